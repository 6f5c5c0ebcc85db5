"""What each value of a program varies over, and what its memory really costs.

The op table's shape rule (`ops.Shape`: SCALAR < PER_TENSOR < ROW, COL < TENSOR) gives the
shape of every instruction's result from its arguments'. A memory slot has the shape of the
values written to it: the least fixed point of

    shape(slot) = join(shape of its new value, given the slots' shapes),

starting from SCALAR (a slot starts at zero, which has every shape). So a slot written only
with per-tensor reductions is PER_TENSOR, Adafactor's row statistics are ROW, and a slot that
accumulates g is TENSOR. A slot is stored at its shape (`runtime.stored_shape`): a scalar per
tensor, one value per row or column of each matrix, or a full copy of the parameters.

Memory cost: the entries all slots store, divided by the entries of the parameters, on a
reference model (REFERENCE_SHAPES); a full slot costs 1, a scalar one about 0.
"""
from __future__ import annotations

import math

from lion_search.language.ops import OPS, Shape, join
from lion_search.language.program import INPUT_SHAPES, Arg, Program
from lion_search.language.runtime import stored_shape

# A reference model for memory costs: a two-layer MLP block of width 512 with its biases and a
# layer norm (matrices dominate, as in most models; vectors are stored whole by every slot).
REFERENCE_SHAPES: tuple[tuple[int, ...], ...] = ((512, 2048), (2048,), (2048, 512), (512,),
                                                 (512,), (512,))


def arg_shape(shapes: dict[str, Shape], a: Arg) -> Shape:
    """The shape of an argument: a constant is SCALAR, an unset name TENSOR."""
    return shapes.get(a, Shape.TENSOR) if isinstance(a, str) else Shape.SCALAR


def forward(program: Program, slots: tuple[Shape, ...], upto: int | None = None
            ) -> tuple[dict[str, Shape], list[Shape]]:
    """(the shape of each name after the first `upto` instructions (all by default), the shape of
    each of those instructions' results), given the shapes of the memory slots on entry."""
    shapes = dict(INPUT_SHAPES) | dict(zip(program.memory, slots))
    results = []
    for ins in program.body[:upto]:
        shapes[ins.dst] = OPS[ins.op].shape([arg_shape(shapes, a) for a in ins.args])
        results.append(shapes[ins.dst])
    return shapes, results


def slot_shapes(program: Program) -> tuple[Shape, ...]:
    """The shape of each memory slot: the least fixed point of the join of its writes."""
    slots = (Shape.SCALAR,) * len(program.memory)
    while True:
        after, _ = forward(program, slots)
        grown = tuple(join(s, arg_shape(after, a))
                      for s, a in zip(slots, program.outputs[1:1 + len(slots)]))
        if grown == slots:
            return slots
        slots = grown


def value_shapes(program: Program, upto: int | None = None) -> dict[str, Shape]:
    """The shape of each name set after `upto` instructions, the slots at their fixed point."""
    return forward(program, slot_shapes(program), upto)[0]


def instruction_shapes(program: Program) -> list[Shape]:
    """The shape of each instruction's result."""
    return forward(program, slot_shapes(program))[1]


def slot_kinds(program: Program) -> tuple[str, ...]:
    """Each slot's shape as the runtime names it ("scalar", "per_tensor", "row", ...)."""
    return tuple(s.name.lower() for s in slot_shapes(program))


def memory_cost(program: Program, shapes: tuple[tuple[int, ...], ...] = REFERENCE_SHAPES
                ) -> float:
    """Entries stored by all memory slots / entries of parameters of the given `shapes`."""
    total = sum(math.prod(s) for s in shapes)
    stored = sum(math.prod(stored_shape(kind, s)) for kind in slot_kinds(program) for s in shapes)
    return stored / total


def format_cost(cost: float) -> str:
    """A memory cost for people: 2 for whole slots, else two significant digits (0.0051)."""
    return f"{cost:g}" if cost == round(cost) else f"{cost:.2g}"
