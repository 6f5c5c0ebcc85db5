"""The op table: every operation a program may use, with its arity, jnp implementation and shape rule.

Shapes form a small lattice: a value is a SCALAR (one number for all parameters: lr, t, T,
constants, global reductions), PER_TENSOR (one number per parameter tensor: per-tensor
reductions, rank, fan_in, fan_out), ROW (one number per row of each matrix: row_mean), COL (one
number per column: col_mean) or TENSOR (one number per parameter entry):

    SCALAR < PER_TENSOR < ROW, COL < TENSOR,  with ROW v COL = TENSOR.

Elementwise ops broadcast to the join (least upper bound) of their arguments' shapes;
reductions narrow it. For tensors of rank < 2 a ROW or COL value is as large as the tensor.
The lattice and the rule live in `plan` (`Shape`, `result_shape`), which exported optimizers
carry to plan each tensor's state.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from lion_search.language import runtime
from lion_search.language.plan import Kind, Shape, join, result_shape

__all__ = ["CALLABLE_OPS", "OPS", "PER_LEAF_KINDS", "Kind", "Op", "Shape", "get_op", "join"]


# The ops that see each leaf at its shape (the argument broadcast to the parameter's shape).
PER_LEAF_KINDS = frozenset({Kind.TENSOR_REDUCE, Kind.AXIS_REDUCE, Kind.MATRIX})


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

    @property
    def axis(self) -> Shape:
        """The shape an axis reduction reduces to (ROW for row_mean, COL for col_mean), else
        TENSOR."""
        return _AXIS_SHAPES.get(self.name, Shape.TENSOR)

    def shape(self, args: list[Shape]) -> Shape:
        """The shape rule: the shape of the result given the shapes of the arguments
        (`plan.result_shape`)."""
        return result_shape(self.kind, self.axis, args)


def _op(name: str, arity: int, kind: Kind = Kind.ELEMENTWISE, symbol: str | None = None) -> Op:
    return Op(name, arity, getattr(runtime, f"op_{name}"), kind, symbol)


_AXIS_SHAPES = {"row_mean": Shape.ROW, "col_mean": Shape.COL}
_T, _A, _M, _G = Kind.TENSOR_REDUCE, Kind.AXIS_REDUCE, Kind.MATRIX, Kind.GLOBAL_REDUCE

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
    _op("cos", 1), _op("sin", 1),
    _op("copy", 1),
    _op("mean", 1, _T), _op("rms", 1, _T), _op("norm", 1, _T),
    _op("row_mean", 1, _A), _op("col_mean", 1, _A), _op("orthogonalize", 1, _M),
    _op("global_mean", 1, _G), _op("global_rms", 1, _G), _op("global_norm", 1, _G),
]}

# Ops that can be called by name in program text (`copy` is written as a plain assignment).
CALLABLE_OPS: tuple[str, ...] = tuple(sorted(name for name in OPS if name != "copy"))


def get_op(name: str) -> Op:
    """The op called `name` (KeyError if there is none)."""
    return OPS[name]
