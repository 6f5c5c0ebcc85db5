"""How well a run's promotion measures programs (`lion-search bench --yardsticks RUN`).

Over the programs a run promoted (the seed among them), three checks of the promoted score:

- test-retest: each program is put through promotion's protocol again (`search.promotion`: the
  seed's sweep for the centres, then each candidate's sweep around them, grown past an edge)
  on other training seeds; Kendall's tau between the journaled scores and the retest's;
- the lr: each candidate's journaled per-task loss against the best of a wide sweep (CENTRE_GRID
  around the task's centre, on the promotion seeds): the share within WITHIN of that best;
- the edges: the share of per-task bests at the edge of a sweep that could grow no further.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

from lion_search.analysis.agreement import kendall_tau
from lion_search.evaluation.fitness import Evaluator
from lion_search.evaluation.tasks import get_task
from lion_search.language.parser import parse_program
from lion_search.language.program import Program
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.search.config import EvolveConfig
from lion_search.search.promotion import (
    CENTRE_GRID,
    PROMOTION_STEP,
    PromotionRound,
)

RETEST_SEEDS = (10_002, 10_003)
WITHIN = 0.05


class TaskCheck(NamedTuple):
    """One promoted program on one task: the journaled loss and factor, the best of the wide
    sweep, and the retest's loss."""

    program: int
    task: str
    loss: float
    factor: float
    wide_best: float
    at_edge: bool


class Yardsticks(NamedTuple):
    """The checks over a run's promoted programs."""

    scores: dict[int, float]          # journaled promoted score
    retest: dict[int, float]          # the protocol again, on RETEST_SEEDS
    tasks: tuple[TaskCheck, ...]

    @property
    def tau(self) -> float:
        ids = sorted(self.scores)
        return kendall_tau([self.scores[i] for i in ids], [self.retest[i] for i in ids])

    @property
    def within(self) -> float:
        """The share of per-task losses within WITHIN of the wide sweep's best."""
        return sum(t.loss <= (1 + WITHIN) * t.wide_best for t in self.tasks) / len(self.tasks)

    @property
    def edges(self) -> float:
        return sum(t.at_edge for t in self.tasks) / len(self.tasks)


def sweep_round(evaluators: dict[str, Evaluator], round_: PromotionRound) -> PromotionRound:
    """Train a promotion round to the end (its sweeps grown as the search grows them)."""
    queue = round_.trials()
    while queue:
        trial, program = queue.pop(0)
        result, = evaluators[trial.task].evaluate_many([program])
        queue += round_.file(trial, result)
    return round_


def protocol(picks: list[tuple[int, Program]], seed: tuple[int, Program], tasks: Sequence[str],
             evaluators: dict[str, Evaluator], growth: int) -> dict[int, float]:
    """Promotion's protocol on the evaluators' seeds: the seed's sweep, then every pick's
    around its centres; each program's promoted score (worst task), the seed's 0."""
    centre, = sweep_round(evaluators, PromotionRound(
        [seed], tuple(tasks), {t: CENTRE_GRID for t in tasks})).scores([1.0] * len(tasks))
    grids = {c.task: tuple(c.lr_factor * PROMOTION_STEP ** k for k in (-1, 0, 1))
             for c in centre.per_task}
    scored = sweep_round(evaluators, PromotionRound(picks, tuple(tasks), grids,
                                                    growth=growth)).scores(
        [c.loss for c in centre.per_task])
    return {seed[0]: 0.0, **{p.program_id: p.score for p in scored}}


def check_run(folder: Path, progress: Callable[[str], None] = lambda msg: None) -> Yardsticks:
    """The three checks over the promoted programs of the run in `folder`."""
    store = RunStore.open(folder)
    try:
        config = EvolveConfig.from_json(store.config)
        tasks, _ = config.promotion
        centres = {c["task"]: c for c in store.value("promotion_centres", [])}
        if not centres:
            raise ValueError(f"run {folder} has no promotion centres (promoted before the seed "
                             "was promoted through the protocol, or not at all)")
        scores = {e.program: e.fitness for e in store.evaluations(EvalKind.PROMOTED)}
        seed_id = store.value("seeds")[0]["id"]
        programs = {pid: parse_program(store.program(pid).text) for pid in scores}
        per_task = {(e.program, e.task): e for e in store.evaluations(EvalKind.PROMOTION)}
    finally:
        store.close()
    same = {t: Evaluator(get_task(t, config.schedule), config.promote_seeds) for t in tasks}
    checks = []
    for pid, program in programs.items():
        if pid == seed_id:
            continue      # its loss is the best of such a sweep already
        progress(f"wide sweep of #{pid}")
        for task in tasks:
            e, centre = per_task[pid, task], centres[task]["lr_factor"]
            losses = [same[task].evaluate_many([program], lr_scale=centre * c)[0].fitness
                      for c in CENTRE_GRID]
            steps = round(math.log(e.lr_factor / centre) / math.log(PROMOTION_STEP)) \
                if e.lr_factor else 0
            checks.append(TaskCheck(pid, task, e.fitness, e.lr_factor or math.nan,
                                    min(losses), abs(steps) >= 1 + config.promote_growth))
    progress("the protocol again on other seeds")
    other = {t: Evaluator(get_task(t, config.schedule), RETEST_SEEDS) for t in tasks}
    retest = protocol([(p, programs[p]) for p in programs if p != seed_id],
                      (seed_id, programs[seed_id]), tasks, other, config.promote_growth)
    return Yardsticks(scores, retest, tuple(checks))


def yardstick_lines(y: Yardsticks) -> list[str]:
    """The checks in words."""
    return [f"test-retest: Kendall tau {y.tau:+.2f} between the promoted scores and the same "
            f"protocol on seeds {', '.join(map(str, RETEST_SEEDS))}, over {len(y.scores)} "
            "programs",
            f"lr: {100 * y.within:.0f}% of {len(y.tasks)} per-task losses within "
            f"{100 * WITHIN:.0f}% of the best of a sweep over {len(CENTRE_GRID)} factors "
            f"({CENTRE_GRID[0]:.3g} to {CENTRE_GRID[-1]:.3g} of the centre)",
            f"edges: {100 * y.edges:.0f}% of per-task bests at the edge of a sweep that could "
            "grow no further"]
