"""The whole pipeline: `simplify` (dead code, rewriting, then ablation under a score),
`SimplifyReport` and `format_report`, which prints it."""
from __future__ import annotations

from itertools import groupby
from typing import TYPE_CHECKING, Callable, NamedTuple

from lion_search.language.edits import describe
from lion_search.language.program import Program, print_program
from lion_search.language.shapes import format_cost, memory_cost
from lion_search.simplify.ablation import AblationStep, ablate, within
from lion_search.simplify.dead_code import dead_instructions, dead_slots
from lion_search.simplify.rules import rewrite

if TYPE_CHECKING:
    pass


class SimplifyReport(NamedTuple):
    """What `simplify` did: the program before and after, the rules applied, the ablation steps,
    and the fitness before and after (None without a score)."""

    before: Program
    after: Program
    rules: list[str]
    steps: list[AblationStep]
    fitness_before: float | None
    fitness_after: float | None


def _memoized(score: Callable[[Program], float]) -> Callable[[Program], float]:
    """score, computed once per distinct program."""
    cache: dict[Program, float] = {}

    def memo(program: Program) -> float:
        if program not in cache:
            cache[program] = score(program)
        return cache[program]
    return memo


def simplify(program: Program, score: Callable[[Program], float] | None = None,
             tolerance: float = 0.01, absolute: bool = False) -> SimplifyReport:
    """Dead-code removal and rewriting to a fixed point; then, given a score (fitness, lower is
    better), ablation within `tolerance` (see `within`) and another rewrite. With a score, the
    result's fitness is within tolerance of the program's own: where the rewritten program's
    is not (rewrites are exact up to float rounding, which training can amplify), the result
    is the first of (ablated, rewritten only, the program itself) that is."""
    after, rules = rewrite(program)
    if score is None:
        return SimplifyReport(program, after, rules, [], None, None)
    score = _memoized(score)
    fitness_before = score(program)
    ablated, steps = ablate(after, score, tolerance, absolute)
    ablated, more = rewrite(ablated)
    for result, applied in ((ablated, rules + more), (after, rules), (program, [])):
        if result == program or within(score(result), fitness_before, tolerance, absolute):
            break
    return SimplifyReport(program, result, applied, steps, fitness_before, score(result))


def _heading(label: str, program: Program, fitness: float | None) -> str:
    scored = "not scored" if fitness is None else f"fitness {fitness:.6g}"
    return (f"{label}: {len(program)} instructions, memory cost {format_cost(memory_cost(program))}, {scored}")


def format_report(report: SimplifyReport) -> str:
    """The report as plain text: each program with its size, memory cost and fitness, the dead
    code of the program before, the rules applied (repeats counted) and each ablation step
    with its fitness and outcome."""
    before = report.before
    dead = "; ".join(describe(before.body[i]) for i in sorted(dead_instructions(before)))
    slots = ", ".join(sorted(dead_slots(before)))
    rules = ", ".join(name if n == 1 else f"{name} x{n}"
                      for name, n in ((k, len(list(g))) for k, g in groupby(report.rules)))
    lines = [_heading("before", before, report.fitness_before), print_program(before),
             _heading("after", report.after, report.fitness_after), print_program(report.after),
             f"dead code: {dead or 'none'}" + (f" (and memory slots {slots})" if slots else ""),
             f"rules applied: {rules or 'none'}"]
    if report.steps:
        lines.append("ablation:")
        lines += [f"  {'kept    ' if s.kept else 'rejected'}  {s.fitness:<10.6g}  {s.description}"
                  for s in report.steps]
    return "\n".join(lines) + "\n"
