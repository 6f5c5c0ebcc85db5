"""The op table: every operation a program may use, with its arity, jnp implementation and shape rule.

The implementations live in `runtime`, which imports JAX; an op looks its own up there on first
use, so that parsing, printing and costing a program imports no JAX.

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

import functools
from dataclasses import dataclass
from typing import Callable

from lion_search.language.plan import Kind, Shape, join, result_shape

__all__ = ["CALLABLE_OPS", "COMMUTATIVE_OPS", "OPS", "PER_LEAF_KINDS", "Kind", "Op", "Shape",
           "functions", "get_op", "join"]


# The ops that see each leaf at its shape (the argument broadcast to the parameter's shape).
PER_LEAF_KINDS = frozenset({Kind.TENSOR_REDUCE, Kind.AXIS_REDUCE, Kind.MATRIX})


@dataclass(frozen=True)
class Op:
    """One operation: `name(args)` in program text, or `symbol` in operator syntax."""

    name: str
    arity: int
    kind: Kind = Kind.ELEMENTWISE
    symbol: str | None = None

    @functools.cached_property
    def fn(self) -> Callable:
        """The op's jnp implementation, `runtime.op_<name>` (importing JAX the first time)."""
        from lion_search.language import runtime  # JAX: only where a program is run

        return getattr(runtime, f"op_{self.name}")

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


_AXIS_SHAPES = {"row_mean": Shape.ROW, "col_mean": Shape.COL}
_T, _A, _M, _G = Kind.TENSOR_REDUCE, Kind.AXIS_REDUCE, Kind.MATRIX, Kind.GLOBAL_REDUCE

OPS: dict[str, Op] = {op.name: op for op in [
    Op("add", 2, symbol="+"), Op("sub", 2, symbol="-"), Op("mul", 2, symbol="*"),
    Op("div", 2, symbol="/"), Op("mod", 2, symbol="%"), Op("pow", 2, symbol="**"),
    Op("neg", 1, symbol="-"),
    Op("lt", 2, symbol="<"), Op("le", 2, symbol="<="), Op("gt", 2, symbol=">"),
    Op("ge", 2, symbol=">="), Op("eq", 2, symbol="=="), Op("ne", 2, symbol="!="),
    Op("abs", 1), Op("sign", 1), Op("sqrt", 1), Op("rsqrt", 1), Op("square", 1),
    Op("exp", 1), Op("expm1", 1), Op("log", 1), Op("log1p", 1),
    Op("max", 2), Op("min", 2), Op("interp", 3), Op("clip", 2), Op("where", 3),
    Op("tanh", 1), Op("arcsin", 1), Op("arctan", 1), Op("cosh", 1),
    Op("cos", 1), Op("sin", 1),
    Op("copy", 1),
    Op("mean", 1, _T), Op("rms", 1, _T), Op("norm", 1, _T),
    Op("row_mean", 1, _A), Op("col_mean", 1, _A), Op("orthogonalize", 1, _M),
    Op("global_mean", 1, _G), Op("global_rms", 1, _G), Op("global_norm", 1, _G),
]}

# Ops whose operands may be swapped: the data-flow keys sort their operands' keys.
COMMUTATIVE_OPS = frozenset({"add", "mul", "max", "min", "eq", "ne"})

# Ops that can be called by name in program text (`copy` is written as a plain assignment).
CALLABLE_OPS: tuple[str, ...] = tuple(sorted(name for name in OPS if name != "copy"))


@functools.cache
def functions() -> dict[str, Callable]:
    """Every op's jnp implementation by name, for running programs and evaluating their static
    values (importing JAX the first time)."""
    return {name: op.fn for name, op in OPS.items()}


def get_op(name: str) -> Op:
    """The op called `name` (KeyError if there is none)."""
    return OPS[name]
