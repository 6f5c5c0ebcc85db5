"""Abstract execution: decide, without running it, whether a program is a usable optimizer.

A program passes `check` when
  * it is within the limits: len(body) <= max_length and slots <= max_memory;
  * it is well formed: memory slots are distinct plain names, every instruction writes a plain
    name with a known op of the right arity, every constant is a finite float, and it returns
    1 + slots values, or 2 + slots with evaluation weights;
  * every name is assigned before it is read (the inputs w, g, lr, t, the shape inputs and the
    memory slots are assigned on entry);
  * the update has shape TENSOR under the ops' shape rules (`shapes`);
  * the evaluation weights, if any, do not depend on g or lr within the step (they are a
    function of the values on entry: the weights, the memory and t);
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

from lion_search.language.ops import OPS, Shape
from lion_search.language.program import (
    INPUT_SHAPES,
    INPUTS,
    RESERVED_NAMES,
    Arg,
    Program,
)
from lion_search.language.shapes import slot_shapes


@dataclass(frozen=True)
class Limits:
    """The search space's bounds: instructions per program and memory slots per program."""

    max_length: int = 32
    max_memory: int = 4


def fitting(limits: Limits, programs: list[Program], extra_length: int = 0) -> Limits:
    """`limits` grown to hold each of `programs` with `extra_length` more instructions (a search
    widens its limits to its seeds', so that a long seed such as Prodigy can be mutated)."""
    return Limits(max([limits.max_length] + [len(p) + extra_length for p in programs]),
                  max([limits.max_memory] + [p.slots for p in programs]))


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
    if program.slots > limits.max_memory:
        return f"too much memory: {program.slots} slots > {limits.max_memory}"
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
    if len(program.outputs) not in (1 + len(memory), 2 + len(memory)):
        return f"returns {len(program.outputs)} values, expected {1 + len(memory)} " \
               f"(or {2 + len(memory)} with evaluation weights)"
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
    """Names set before use, the update's shape (forward over the body), and what the
    evaluation weights read."""
    shapes: dict[str, Shape] = dict(INPUT_SHAPES)
    shapes.update(zip(program.memory, slot_shapes(program)))

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
    if program.has_eval and depends_on(program, frozenset({"g", "lr"}))[-1]:
        return "the evaluation weights depend on g or lr (they must come from w, memory and t)"
    return None


def depends_on(program: Program, sources: frozenset[str]) -> tuple[bool, ...]:
    """For each output: whether it depends on the values of the names in `sources` on entry,
    within one step (a read refers to the latest earlier write)."""
    tainted = set(sources)
    for ins in program.body:
        if any(isinstance(a, str) and a in tainted for a in ins.args):
            tainted.add(ins.dst)
        else:
            tainted.discard(ins.dst)
    return tuple(isinstance(a, str) and a in tainted for a in program.outputs)


def _check_gradient_dependence(program: Program) -> str | None:
    """The update depends on g, within a step or through memory (a fixed point over slots:
    the slots in `tainted` hold values that depend on g)."""
    tainted: frozenset[str] = frozenset()
    while True:
        depends = depends_on(program, frozenset({"g"}) | tainted)
        if depends[0]:
            return None
        grown = frozenset(s for s, d in zip(program.memory, depends[1:]) if d)
        if grown == tainted:
            return "the update does not depend on the gradient g"
        tainted = grown
