"""The op table: every operation a program may use, with its arity, jnp implementation and shape rule.

Shapes form a small lattice: a value is a SCALAR (one number for all parameters: lr, t,
constants, global reductions), PER_TENSOR (one number per parameter tensor: per-tensor
reductions) or TENSOR (one number per parameter entry). Elementwise ops broadcast to the
widest shape of their arguments; reductions narrow it.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Callable

from lion_search import runtime


class Shape(IntEnum):
    """What a value varies over; ordered so that broadcasting is `max`."""

    SCALAR = 0
    PER_TENSOR = 1
    TENSOR = 2


class Kind(Enum):
    """How an op is applied to parameter pytrees."""

    ELEMENTWISE = "elementwise"      # fn(*arrays), leaf by leaf
    TENSOR_REDUCE = "tensor_reduce"  # fn(array) -> 0-d, leaf by leaf
    GLOBAL_REDUCE = "global_reduce"  # fn(list of arrays) -> 0-d, over all leaves


@dataclass(frozen=True)
class Op:
    """One operation: `name(args)` in program text, or `symbol` in operator syntax."""

    name: str
    arity: int
    fn: Callable
    kind: Kind = Kind.ELEMENTWISE
    symbol: str | None = None

    @property
    def doc(self) -> str:
        """The math the op computes (its implementation's docstring)."""
        return (self.fn.__doc__ or "").strip()

    def shape(self, args: list[Shape]) -> Shape:
        """The shape rule: the shape of the result given the shapes of the arguments."""
        if self.kind is Kind.TENSOR_REDUCE:
            return Shape.PER_TENSOR  # even of a scalar: norm(lr) = |lr| sqrt(n) grows with n
        if self.kind is Kind.GLOBAL_REDUCE:
            return Shape.SCALAR
        return max(args, default=Shape.SCALAR)


def _op(name: str, arity: int, kind: Kind = Kind.ELEMENTWISE, symbol: str | None = None) -> Op:
    return Op(name, arity, getattr(runtime, f"op_{name}"), kind, symbol)


_E, _T, _G = Kind.ELEMENTWISE, Kind.TENSOR_REDUCE, Kind.GLOBAL_REDUCE

OPS: dict[str, Op] = {op.name: op for op in [
    _op("add", 2, symbol="+"), _op("sub", 2, symbol="-"), _op("mul", 2, symbol="*"),
    _op("div", 2, symbol="/"), _op("mod", 2, symbol="%"), _op("pow", 2, symbol="**"),
    _op("neg", 1, symbol="-"),
    _op("lt", 2, symbol="<"), _op("le", 2, symbol="<="), _op("gt", 2, symbol=">"),
    _op("ge", 2, symbol=">="), _op("eq", 2, symbol="=="), _op("ne", 2, symbol="!="),
    _op("abs", 1), _op("sign", 1), _op("sqrt", 1), _op("rsqrt", 1), _op("square", 1),
    _op("exp", 1), _op("expm1", 1), _op("log", 1), _op("log1p", 1),
    _op("max", 2), _op("min", 2), _op("interp", 3), _op("clip", 2), _op("where", 3),
    _op("tanh", 1), _op("arcsin", 1), _op("arctan", 1), _op("cosh", 1),
    _op("copy", 1),
    _op("mean", 1, _T), _op("rms", 1, _T), _op("norm", 1, _T),
    _op("global_mean", 1, _G), _op("global_rms", 1, _G), _op("global_norm", 1, _G),
]}

# Ops that can be called by name in program text (`copy` is written as a plain assignment).
CALLABLE_OPS: tuple[str, ...] = tuple(sorted(name for name in OPS if name != "copy"))


def get_op(name: str) -> Op:
    """The op called `name` (KeyError if there is none)."""
    return OPS[name]
