"""Program edits shared by the mutations and the simplifier: where a name is defined, which
statements feed the update, fresh names, bypassing an instruction, and `accept`, which keeps an
edited program only if it normalizes, passes `validate.check` and differs from its parent."""
from __future__ import annotations

from dataclasses import replace

from lion_search.language.errors import ProgramError
from lion_search.language.ops import Shape
from lion_search.language.parser import normalize
from lion_search.language.program import (
    ALL_INPUTS,
    Arg,
    Instr,
    Program,
    format_constant,
    is_temp,
)
from lion_search.language.shapes import value_shapes
from lion_search.language.validate import Limits, check


def accept(parent: Program, raw: Program, limits: Limits) -> Program | None:
    """The normalized child if it is valid and differs from the parent, else None (also the
    acceptance test of simplification's rewrites)."""
    raw = prune_dead_temps(raw)
    if check(raw, limits) is not None:
        return None
    try:
        child = normalize(raw)
    except ProgramError:
        return None
    if child == parent or check(child, limits) is not None:
        return None
    return child


def prune_dead_temps(program: Program) -> Program:
    """Drop the instructions that write a temporary nobody reads afterwards (backward liveness)."""
    live = {a for a in program.outputs if isinstance(a, str)}
    kept: list[Instr] = []
    for ins in reversed(program.body):
        if is_temp(ins.dst) and ins.dst not in live:
            continue
        live.discard(ins.dst)
        live.update(a for a in ins.args if isinstance(a, str))
        kept.append(ins)
    return replace(program, body=tuple(reversed(kept)))


def statements(program: Program) -> list[tuple[int, int]]:
    """The [start, end) ranges of the statements: runs of temporaries ended by a named write
    (the temporaries of the return expression, after the last named write, are not included)."""
    blocks, start = [], 0
    for i, ins in enumerate(program.body):
        if not is_temp(ins.dst):
            blocks.append((start, i + 1))
            start = i + 1
    return blocks


# ------------------------------------------------------------------------------ random draws

def defined_before(program: Program, index: int) -> list[str]:
    """Names set before instruction `index` (len(body) for the outputs), in order of first set."""
    names = dict.fromkeys(ALL_INPUTS + program.memory)
    names.update(dict.fromkeys(ins.dst for ins in program.body[:index]))
    return list(names)


def round_significant(x: float, digits: int) -> float:
    """x rounded to `digits` significant digits (so that printed constants stay short)."""
    return float(f"{x:.{digits - 1}e}")


def fresh_name(program: Program, prefix: str = "v") -> str:
    """The first of v1, v2, ... (or prefix1, prefix2, ...) that the program does not use."""
    taken = set(ALL_INPUTS) | set(program.memory) | {ins.dst for ins in program.body}
    k = 1
    while f"{prefix}{k}" in taken:
        k += 1
    return f"{prefix}{k}"


def shapes_before(program: Program, index: int) -> dict[str, Shape]:
    """The shape of each name set before instruction `index`, in order of first set."""
    return value_shapes(program, index)


def feeds_update(program: Program) -> list[bool]:
    """For each instruction: whether the value it writes reaches the update within the step
    (backward liveness from outputs[0])."""
    live = {program.outputs[0]} if isinstance(program.outputs[0], str) else set()
    feeds = [False] * len(program.body)
    for i in reversed(range(len(program.body))):
        ins = program.body[i]
        if ins.dst in live:
            feeds[i] = True
            live.discard(ins.dst)
            live.update(a for a in ins.args if isinstance(a, str))
    return feeds


def describe(ins: Instr) -> str:
    """`dst = op(a, b)` with constants written as in program text."""
    return f"{ins.dst} = {ins.op}({', '.join(arg_text(a) for a in ins.args)})"


def arg_text(a: Arg) -> str:
    return a if isinstance(a, str) else format_constant(a)


def bypass(body: tuple[Instr, ...], outputs: tuple[Arg, ...], name: str, value: Arg
           ) -> tuple[tuple[Instr, ...], tuple[Arg, ...]]:
    """Replace the reads of `name` by `value` up to and including the next write of `name`."""
    def sub(args: tuple[Arg, ...]) -> tuple[Arg, ...]:
        return tuple(value if a == name else a for a in args)

    new = list(body)
    for i, ins in enumerate(body):
        new[i] = replace(ins, args=sub(ins.args))
        if ins.dst == name:
            return tuple(new), outputs
    return tuple(new), sub(outputs)


def replace_instr(program: Program, index: int, ins: Instr) -> Program:
    return replace(program, body=program.body[:index] + (ins,) + program.body[index + 1:])
