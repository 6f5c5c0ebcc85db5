"""A run's program simplified as the run scores it (`simplify_in_run`): ablation on the run's own
proxy and seeds, and the result journaled as a program of the run."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

from lion_search.simplify.pipeline import SimplifyReport, simplify

if TYPE_CHECKING:
    from lion_search.evaluation.portfolio import PortfolioEvaluator
    from lion_search.language.program import Program
    from lion_search.runs.journal import RunStore


def keeping_lr(score: Callable[["Program"], float], program: "Program"
               ) -> Callable[["Program"], float]:
    """`score` for ablating `program`, but inf for a candidate whose update no longer grows with
    lr (`analysis.lr_check`) where `program`'s does: at the calibrated lr the proxy can score
    `g` within tolerance of `lr * m`, and a simplification that leaves lr inert leaves the user
    no knob to tune."""
    from lion_search.analysis.lr_check import grows_with_lr

    if not grows_with_lr(program):
        return score
    return lambda candidate: score(candidate) if grows_with_lr(candidate) else math.inf


def run_evaluator(store: RunStore) -> "PortfolioEvaluator":
    """An evaluator that scores programs as the run did: on its tasks, schedule and seeds
    (`seeds`), against its reference losses; with a seed panel, paired with AdamW's loss on each
    of those seeds, as the search scored its children on theirs."""
    from lion_search.evaluation.portfolio import PortfolioEvaluator
    from lion_search.search.config import EvolveConfig

    config = EvolveConfig.from_json(store.config)
    references = store.value("references")
    paired = store.value("paired_references")
    return PortfolioEvaluator(
        config.tasks, config.schedule, config.seeds,
        [tuple(row[s] for s in config.seeds) for row in paired] if paired else
        [r["fitness"] for r in references] if references else None)


def simplify_in_run(store: RunStore, program_id: int, tolerance: float = 0.01,
                    ablation: bool = True) -> tuple[SimplifyReport, int]:
    """Simplify program `program_id` of a run, scored as the run scores: on its tasks, schedule
    and training seeds, against its reference losses (a portfolio's fitness is a log ratio, so
    the tolerance is then absolute; see `within`). The result is journaled as a program of
    origin 'simplified' (parent: `program_id`) with its fitness as an evaluation of kind
    'simplified'; returns the report and the new program's id."""
    from lion_search.analysis.dedup import DedupCache
    from lion_search.evaluation.results import Status
    from lion_search.language.parser import parse_program
    from lion_search.runs.journal import EvalKind
    from lion_search.search.config import EvolveConfig

    config = EvolveConfig.from_json(store.config)
    evaluator = run_evaluator(store)
    program = parse_program(store.program(program_id).text)
    score = None if not ablation else \
        keeping_lr(lambda p: evaluator.evaluate(p).fitness, program)
    report = simplify(program, score, tolerance, absolute=evaluator.relative)
    kept = sum(s.kept for s in report.steps)
    pid = store.add_program(str(report.after), DedupCache().keys(report.after), program_id,
                            f"simplified: {', '.join(dict.fromkeys(report.rules)) or 'no rule'};"
                            f" {kept} ablation step(s) kept", "simplified")
    if report.fitness_after is not None:
        store.add_evaluation(
            pid, kind=EvalKind.SIMPLIFIED, fitness=report.fitness_after,
            status=Status.OK if math.isfinite(report.fitness_after) else Status.DIVERGED,
            task=config.task, seeds=config.seeds, seconds=0.0, worker="simplify")
    return report, pid
