"""The whole pipeline: `simplify` (dead code, rewriting, then ablation under a score),
`simplify_in_run` (scored as a run scores, the result journaled), `SimplifyReport` and
`format_report`, which prints it."""
from __future__ import annotations

import math
from itertools import groupby
from typing import TYPE_CHECKING, Callable, NamedTuple

from lion_search.language import Program, print_program
from lion_search.mutate import describe
from lion_search.shapes import format_cost, memory_cost
from lion_search.simplify.ablation import AblationStep, ablate, within
from lion_search.simplify.dead_code import dead_instructions, dead_slots
from lion_search.simplify.rules import rewrite

if TYPE_CHECKING:
    from lion_search.store import RunStore


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


def simplify_in_run(store: RunStore, program_id: int, tolerance: float = 0.01,
                    ablation: bool = True) -> tuple[SimplifyReport, int]:
    """Simplify program `program_id` of a run, scored as the run scores: on its tasks, schedule
    and training seeds, against its reference losses (a portfolio's fitness is a log ratio, so
    the tolerance is then absolute; see `within`). The result is journaled as a program of
    origin 'simplified' (parent: `program_id`) with its fitness as an evaluation of kind
    'simplified'; returns the report and the new program's id."""
    from lion_search.config import EvolveConfig
    from lion_search.dedup import DedupCache
    from lion_search.language import parse_program
    from lion_search.portfolio import PortfolioEvaluator

    config = EvolveConfig.from_json(store.config)
    references = store.value("references")
    evaluator = PortfolioEvaluator(config.tasks, config.schedule, config.seeds,
                                   [r["fitness"] for r in references] if references else None)
    score = None if not ablation else (lambda p: evaluator.evaluate(p).fitness)
    report = simplify(parse_program(store.program(program_id).text), score, tolerance,
                      absolute=evaluator.relative)
    kept = sum(s.kept for s in report.steps)
    pid = store.add_program(str(report.after), DedupCache().keys(report.after), program_id,
                            f"simplified: {', '.join(dict.fromkeys(report.rules)) or 'no rule'};"
                            f" {kept} ablation step(s) kept", "simplified")
    if report.fitness_after is not None:
        store.add_evaluation(pid, "simplified", report.fitness_after,
                             "ok" if math.isfinite(report.fitness_after) else "diverged", False,
                             config.task, config.seeds, 0.0, "simplify")
    return report, pid


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
