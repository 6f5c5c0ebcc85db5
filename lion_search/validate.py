"""Abstract execution: decide, without running it, whether a program is a usable optimizer.

A program passes `check` when
  * it is within the limits: len(body) <= max_length and memory_cost <= max_memory;
  * it is well formed: memory slots are distinct plain names, every instruction writes a plain
    name with a known op of the right arity, every constant is a finite float, and it returns
    1 + memory_cost values;
  * every name is assigned before it is read (the inputs w, g, lr, t and the memory slots are
    assigned on entry);
  * the update has shape TENSOR under the ops' shape rules (Shape.SCALAR < PER_TENSOR < TENSOR,
    elementwise ops broadcast with max, reductions narrow);
  * the update depends on the gradient g: there is a data-flow path from g to the update, either
    within one step or across steps through memory (a slot depends on g when its new value
    does, so `u = lr * m; m = interp(g, m, 0.9); return u, m` passes).

It is pure Python over the IR (no JAX): one forward pass over the body per check, plus one more
per memory slot at most for the across-step dependence.
"""
from __future__ import annotations

import keyword
import math
from dataclasses import dataclass

from lion_search.language import INPUT_SHAPES, INPUTS, RESERVED_NAMES, Arg, Program
from lion_search.ops import OPS, Shape


@dataclass(frozen=True)
class Limits:
    """The search space's bounds: instructions per program and memory slots per program."""

    max_length: int = 32
    max_memory: int = 4


def is_valid(program: Program, limits: Limits = Limits()) -> bool:
    """Whether `check` accepts `program`."""
    return check(program, limits) is None


def check(program: Program, limits: Limits = Limits()) -> str | None:
    """None if `program` is a valid optimizer within `limits`, else a short reason why not."""
    return (_check_limits(program, limits) or _check_form(program) or _check_flow(program)
            or _check_gradient_dependence(program))


def _check_limits(program: Program, limits: Limits) -> str | None:
    if len(program.body) > limits.max_length:
        return f"too long: {len(program.body)} instructions > {limits.max_length}"
    if program.memory_cost > limits.max_memory:
        return f"too much memory: {program.memory_cost} slots > {limits.max_memory}"
    return None


def _is_plain_name(name: object) -> bool:
    """A name a program may assign: an identifier, not a keyword, not reserved."""
    return isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name) \
        and name not in RESERVED_NAMES


def _check_form(program: Program) -> str | None:
    """Names, ops, arities, constants and the number of outputs."""
    memory = program.memory
    if len(set(memory)) != len(memory) or set(memory) & set(INPUTS):
        return f"memory slots {memory} repeat a name or an input"
    for slot in memory:
        if not _is_plain_name(slot):
            return f"bad memory slot name {slot!r}"
    if len(program.outputs) != 1 + len(memory):
        return f"returns {len(program.outputs)} values, expected {1 + len(memory)}"
    for index, ins in enumerate(program.body):
        if not _is_plain_name(ins.dst):
            return f"instruction {index} writes the bad name {ins.dst!r}"
        op = OPS.get(ins.op)
        if op is None:
            return f"instruction {index}: unknown op {ins.op!r}"
        if len(ins.args) != op.arity:
            return f"instruction {index}: {ins.op} takes {op.arity} args, got {len(ins.args)}"
    for arg in _all_args(program):
        if not isinstance(arg, str) and (isinstance(arg, bool) or not isinstance(arg, float)
                                         or not math.isfinite(arg)):
            return f"constant {arg!r} is not a finite float"
    return None


def _all_args(program: Program) -> list[Arg]:
    return [a for ins in program.body for a in ins.args] + list(program.outputs)


def _check_flow(program: Program) -> str | None:
    """Names set before use, and the update's shape (forward over the body)."""
    shapes: dict[str, Shape] = dict(INPUT_SHAPES)
    shapes.update((slot, Shape.TENSOR) for slot in program.memory)

    def shape(a: Arg) -> Shape:
        return shapes[a] if isinstance(a, str) else Shape.SCALAR

    for index, ins in enumerate(program.body):
        unset = [a for a in ins.args if isinstance(a, str) and a not in shapes]
        if unset:
            return f"instruction {index} reads {unset[0]!r} before it is set"
        shapes[ins.dst] = OPS[ins.op].shape([shape(a) for a in ins.args])
    unset = [a for a in program.outputs if isinstance(a, str) and a not in shapes]
    if unset:
        return f"returns {unset[0]!r}, which is never set"
    if shape(program.outputs[0]) is not Shape.TENSOR:
        return f"the update has shape {shape(program.outputs[0]).name}, not TENSOR"
    return None


def gradient_dependence(program: Program, tainted_memory: frozenset[str] = frozenset()
                        ) -> tuple[bool, ...]:
    """For each output: whether it depends on g within one step, given that the memory slots in
    `tainted_memory` hold values that depend on g (a read refers to the latest earlier write)."""
    tainted = {"g"} | set(tainted_memory)
    for ins in program.body:
        if any(isinstance(a, str) and a in tainted for a in ins.args):
            tainted.add(ins.dst)
        else:
            tainted.discard(ins.dst)
    return tuple(isinstance(a, str) and a in tainted for a in program.outputs)


def _check_gradient_dependence(program: Program) -> str | None:
    """The update depends on g, within a step or through memory (a fixed point over slots)."""
    tainted: frozenset[str] = frozenset()
    while True:
        depends = gradient_dependence(program, tainted)
        if depends[0]:
            return None
        grown = frozenset(s for s, d in zip(program.memory, depends[1:]) if d)
        if grown == tainted:
            return "the update does not depend on the gradient g"
        tainted = grown
