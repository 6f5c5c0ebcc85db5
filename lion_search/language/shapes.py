"""What each value of a program varies over, what it stores for each tensor, and what its memory
really costs.

For the whole program (validation, the interpreters' encodings, mutations): the op table's
shape rule (`ops.Shape`: SCALAR < PER_TENSOR < ROW, COL < TENSOR) gives the shape of every
instruction's result from its arguments'. A memory slot has the shape of the values written to
it: the least fixed point of

    shape(slot) = join(shape of its new value, given the slots' shapes),

starting from SCALAR (a slot starts at zero, which has every shape). So a slot written only
with per-tensor reductions is PER_TENSOR, Adafactor's row statistics are ROW, and a slot that
accumulates g is TENSOR. These shapes bound those of every tensor.

For each tensor (what is stored and run): the program's plan (`plan.make_plan`, `tensor_plan`)
evaluates what depends only on a tensor's rank, fan_in and fan_out once per tensor, so that a
`where` on such a static condition takes one branch there, and gives each slot the same fixed
point over that tensor's live instructions, or no storage where no live instruction reads it.
A slot is stored at its shape on each tensor (`plan.stored_shape`): nothing, a scalar, one value
per row or column of a matrix, or a full copy of the tensor.

Memory cost: the entries all slots store, divided by the entries of the parameters, on a
reference model (REFERENCE_SHAPES); a full slot costs 1, a scalar one about 0. A branch that no
tensor of the reference model takes costs nothing, though it stays in the program.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from lion_search.language.ops import OPS, Shape, functions, join
from lion_search.language.plan import (
    Code,
    Plan,
    make_plan,
    make_plans,
    stored_shape,
    tensor_facts,
)
from lion_search.language.program import (
    ALL_INPUTS,
    INPUT_SHAPES,
    SHAPE_INPUTS,
    Arg,
    Program,
)

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


# Validation, the encodings of a child's fingerprint and lr check, and mutations ask again.
@functools.lru_cache(maxsize=4096)
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


@functools.lru_cache(maxsize=4096)
def code_of(program: Program) -> Code:
    """`program` as the plain data that plans and runs it (`plan.Code`)."""
    used = dict.fromkeys(ins.op for ins in program.body)
    return Code(tuple((name, INPUT_SHAPES[name]) for name in ALL_INPUTS), SHAPE_INPUTS[:3],
                program.memory, tuple((ins.dst, ins.op, ins.args) for ins in program.body),
                program.outputs, tuple((op, OPS[op].kind, OPS[op].axis) for op in used))


def evaluate_static(op: str, values: list[float]) -> float:
    """A static value: the op on float32 scalars, as the runtime computes it."""
    with np.errstate(over="ignore"):
        return _static_value(op, tuple(np.float32(v).tobytes() for v in values))


@functools.lru_cache(maxsize=65536)
def _static_value(op: str, bits: tuple[bytes, ...]) -> float:
    """`evaluate_static` by the values' float32 bits (the cast the runtime makes anyway, keeping
    -0.0 and NaN apart): the same facts and constants recur in program after program, and each
    value computed by JAX costs a dispatch."""
    # Imported here: JAX is needed only by a program with static values.
    from lion_search.language import runtime

    return runtime.static_value(functions(), op,
                                [np.frombuffer(b, np.float32)[0] for b in bits])


@functools.lru_cache(maxsize=4096)
def tensor_plan(program: Program, facts: tuple[tuple[int, int, int], ...]) -> Plan:
    """The plan of `program` for tensors of these (rank, fan_in, fan_out) facts."""
    return make_plan(code_of(program), list(facts), evaluate_static)


def tensor_plans(program: Program, facts_lists: tuple[tuple[tuple[int, int, int], ...], ...]
                 ) -> list[Plan]:
    """The plan of `program` for each list of tensor facts in `facts_lists`, computed together
    (`plan.make_plans`: what the lists share is worked out once)."""
    return make_plans(code_of(program), [list(facts) for facts in facts_lists], evaluate_static)


def plan_for(program: Program, shapes: tuple[tuple[int, ...], ...]) -> Plan:
    """The plan of `program` for tensors of these shapes."""
    return tensor_plan(program, tuple(tensor_facts(s) for s in shapes))


def stored_shapes(program: Program, shapes: tuple[tuple[int, ...], ...]
                  ) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """For each memory slot, the array shape it is stored at for each tensor of `shapes`
    ((0,) where it is not stored)."""
    return tuple(tuple(stored_shape(s, leaf) for s, leaf in zip(slot, shapes))
                 for slot in plan_for(program, shapes).slots)


def memory_cost(program: Program, shapes: tuple[tuple[int, ...], ...] = REFERENCE_SHAPES
                ) -> float:
    """Entries stored by all memory slots / entries of parameters of the given `shapes`."""
    total = sum(math.prod(s) for s in shapes)
    return sum(math.prod(s) for slot in stored_shapes(program, shapes) for s in slot) / total


def format_cost(cost: float) -> str:
    """A memory cost for people: 2 for whole slots, else two significant digits (0.0051)."""
    return f"{cost:g}" if cost == round(cost) else f"{cost:.2g}"
