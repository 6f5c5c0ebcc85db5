"""Ablation: candidates that drop an instruction or round a constant, and `ablate`, which
keeps each one whose fitness stays within a tolerance of the program's own (`within`)."""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable, NamedTuple

from lion_search.language.edits import describe, round_significant
from lion_search.language.program import INPUTS, Arg, Program, format_constant
from lion_search.language.validate import check
from lion_search.simplify.dataflow import copy_instr, definition, replaced, with_instr
from lion_search.simplify.rules import LIMITS, rewrite


class AblationStep(NamedTuple):
    """One ablation candidate: what was changed, its fitness, and whether it was kept."""

    description: str
    fitness: float
    kept: bool


def is_calibration(program: Program, index: int) -> bool:
    """Whether instruction `index` is the leading `lr = c * lr` of lr calibration."""
    return index == 0 and bool(program.body) and program.body[0].dst == "lr" \
        and program.body[0].op == "mul" and program.body[0].args[1] == "lr" \
        and not isinstance(program.body[0].args[0], str)


def round_values(x: float) -> list[float]:
    """Rounder values to try in place of x, roundest first: x to 1 and to 2 significant digits,
    or, for 0.5 <= |x| <= 1.5, 1 - x to 1 and 2 significant digits (0.899 -> 0.9,
    0.996991 -> 0.997, 1.109 -> 1.1, 1.11)."""
    magnitude = abs(x)
    values = []
    for digits in (1, 2):
        if 0.5 <= magnitude <= 1.5:
            rounded = 1.0 - round_significant(1.0 - magnitude, digits)
        else:
            rounded = round_significant(magnitude, digits)
        rounded = math.copysign(round_significant(rounded, 12), x)
        if rounded != x and rounded not in values:
            values.append(rounded)
    return values


def _text(a: Arg) -> str:
    return a if isinstance(a, str) else format_constant(a)


def _drop(program: Program, index: int) -> tuple[str, Program] | None:
    """The program without instruction `index`: its readers read one of its name arguments, else
    the value it overwrote, else one of its constant arguments (the first that is valid)."""
    ins = program.body[index]
    names = [a for a in dict.fromkeys(ins.args) if isinstance(a, str)]
    overwritten = [ins.dst] if ins.dst in INPUTS + program.memory \
        or definition(program, index, ins.dst) is not None else []
    constants = [a for a in ins.args if not isinstance(a, str)]
    for value in names + overwritten + constants:
        candidate = replaced(program, index, copy_instr(ins, value))
        if check(candidate, LIMITS) is None:
            return f"drop {describe(ins)} (read {_text(value)} instead)", candidate
    return None


def rounding_candidates(program: Program) -> list[tuple[str, Program]]:
    """(description, valid edited program, not yet rewritten) for rounding each constant (in
    instructions, then outputs) to each of its `round_values`."""
    out = []
    end = len(program.body)
    sites = [(i, ins.args) for i, ins in enumerate(program.body)] + [(end, program.outputs)]
    for i, args in sites:
        for j, c in enumerate(args):
            if isinstance(c, str):
                continue
            where = describe(program.body[i]) if i < end else f"output {j}"
            for value in round_values(c):
                new = args[:j] + (value,) + args[j + 1:]
                edited = replace(program, outputs=new) if i == end else \
                    with_instr(program, i, replace(program.body[i], args=new))
                if check(edited, LIMITS) is None:
                    out.append((f"round {format_constant(c)} -> {format_constant(value)} in "
                                f"{where}", edited))
    return out


def drop_candidates(program: Program) -> list[tuple[str, Program]]:
    """(description, valid edited program, not yet rewritten) for dropping each instruction, in
    order, except copies and the calibration `lr = c * lr` (see `_drop`)."""
    drops = [_drop(program, i) for i, ins in enumerate(program.body)
             if ins.op != "copy" and not is_calibration(program, i)]
    return [d for d in drops if d is not None]


def within(fitness: float, base: float, tolerance: float, absolute: bool = False) -> bool:
    """Whether fitness is within `tolerance` of base (lower is better): at most
    base + tolerance * |base|, or with `absolute` (a fitness that is a log ratio, where
    +0.01 is about 1% more loss) at most base + tolerance."""
    slack = tolerance if absolute else tolerance * abs(base)
    return math.isfinite(fitness) and fitness <= base + slack


def ablate(program: Program, score: Callable[[Program], float], tolerance: float = 0.01,
           absolute: bool = False) -> tuple[Program, list[AblationStep]]:
    """Drop instructions, then round constants, while the score stays within `tolerance` of the
    program's own (lower is better; see `within`). With base = score(program), the first
    candidate (of `drop_candidates`, then of `rounding_candidates`) not tried yet (by
    description) is rewritten and scored, and kept (it becomes the program) when its score is
    within tolerance of base. A program whose own score is not finite is returned as it is."""
    base = score(program)
    steps: list[AblationStep] = []
    if not math.isfinite(base):
        return program, steps
    current, tried = program, set()
    for candidates in (drop_candidates, rounding_candidates):
        while True:
            untried = [c for c in candidates(current) if c[0] not in tried]
            if not untried:
                break
            description, edited = untried[0]
            tried.add(description)
            candidate = rewrite(edited)[0]
            if candidate == current:
                continue
            fitness = score(candidate)
            kept = within(fitness, base, tolerance, absolute)
            steps.append(AblationStep(description, fitness, kept))
            if kept:
                current = candidate
    return current, steps
