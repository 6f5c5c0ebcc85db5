"""Promotion inside the search: the best distinct programs so far are re-trained on larger tasks.

Proxy wins alone are not discoveries. Every `every` trained evaluations the search takes its top
K programs by proxy fitness that are distinct after exact rewriting (`simplify.rewrite`, so that
equivalent programs are promoted once) and not promoted before, and trains each on the promotion
tasks (default: the funnel's stage B) with its lr scaled by each factor c of a small grid. With
x_i = log(min_c L_i(c) / r_i), where L_i(c) is its mean validation loss over the seeds on task i
at lr factor c and r_i that of AdamW with its lr swept on task i (computed once, at the first
promotion), its promoted score is

    worst (default):  score = max_i x_i      below 0 iff it beats tuned AdamW on every task
    mean:             score = mean_i x_i     large wins on some tasks can hide a loss on another

The default is the funnel's own rule (beat the baseline on every task): with the mean, the best
programs of six default runs beat AdamW by 1 to 46% on the digits tasks and lost by 5 to 18% on
the language model (BENCHMARKS section 12). Score 0 ties tuned AdamW; a failure on any task
scores the worst. The run's best is the best by promoted score.
A round's trainings are jobs for the search's workers, like its children (`PromotionRound`).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

from lion_search.evaluation.calibrate import Calibration, best_scale, lr_sweep
from lion_search.evaluation.portfolio import REFERENCE_PROGRAM
from lion_search.evaluation.results import WORST_FITNESS, EvalResult
from lion_search.evaluation.stages import DEFAULT_STAGES, load_stages
from lion_search.language.library import read_program
from lion_search.language.lr_scale import scale_lr
from lion_search.language.program import Program

PROMOTION_GRID: tuple[float, ...] = (1 / 3, 1.0, 3.0)
# How a promoted program's per-task log ratios combine, and what the score then means.
PROMOTED_SCORES = {"worst": "the largest over those tasks of log(loss / tuned AdamW's loss): "
                            "below 0 beats it on every task",
                   "mean": "the mean over those tasks of log(loss / tuned AdamW's loss)"}
# Promotion trains larger tasks than the proxy: a round at every multiple of `every` could cost
# the search several times its own time, so a round starts only while promotion has taken at
# most this share of all training time (children and promotion), counted in the workers' seconds.
PROMOTION_SHARE = 0.25


class TaskScore(NamedTuple):
    """A promoted program on one task: the best lr factor and its mean validation loss."""

    task: str
    lr_factor: float
    loss: float


class Promotion(NamedTuple):
    """The promoted score of one program (WORST_FITNESS if it failed on a task)."""

    program_id: int
    score: float
    per_task: tuple[TaskScore, ...]
    seconds: float      # its trainings' time, all tasks and factors


def stage_b_tasks(proxy: str) -> tuple[str, ...]:
    """The tasks of the default funnel's second stage ({proxy} stands for `proxy`)."""
    stages = load_stages(DEFAULT_STAGES, proxy).stages
    return stages[1].tasks if len(stages) > 1 else stages[0].tasks


class Trial(NamedTuple):
    """One training of a promotion round: a program (a pick by its id, or REFERENCE for AdamW)
    on one task with its lr scaled by `factor`."""

    program_id: int
    task: str
    factor: float


REFERENCE = 0   # the program id of AdamW's trials (journal ids start at 1)


@dataclass
class PromotionRound:
    """A round of promotion as trainings for the search's workers: every pick on every task at
    every lr factor of `grid`, and, while the reference losses are not known (`reference_grid`
    given), AdamW on every task at every factor of `reference_grid`. `results` fills in as the
    trainings finish; `scores` reads the round once all are in."""

    picks: list[tuple[int, Program]]
    tasks: tuple[str, ...]
    grid: tuple[float, ...]
    reference_grid: tuple[float, ...] | None
    rule: str = "worst"     # one of PROMOTED_SCORES
    results: dict[Trial, EvalResult] = field(default_factory=dict)

    @functools.cached_property
    def trials(self) -> list[tuple[Trial, Program]]:
        """Each training and the program it trains (the program's lr scaled by the factor)."""
        programs = list(self.picks)
        factors = {pid: self.grid for pid, _ in self.picks}
        if self.reference_grid is not None:
            programs.append((REFERENCE, read_program(REFERENCE_PROGRAM)))
            factors[REFERENCE] = self.reference_grid
        return [(Trial(pid, task, c), scale_lr(program, c)) for task in self.tasks
                for pid, program in programs for c in factors[pid]]

    @property
    def finished(self) -> bool:
        return len(self.results) == len(self.trials)

    def scores(self, references: Sequence[float] | None
               ) -> tuple[list[Calibration] | None, list[Promotion]]:
        """(AdamW's calibration on each task if this round swept it, else None; each pick's
        promotion, scored against the sweep's losses or else against `references`)."""
        tuned = None
        if self.reference_grid is not None:
            tuned = [self._calibration(task) for task in self.tasks]
            references = [c.result.fitness for c in tuned]
        return tuned, [self._promotion(pid, references) for pid, _ in self.picks]

    def _calibration(self, task: str) -> Calibration:
        reference = read_program(REFERENCE_PROGRAM)
        return best_scale(self.reference_grid, lr_sweep(reference, self.reference_grid),
                          [self.results[Trial(REFERENCE, task, c)] for c in self.reference_grid])

    def _promotion(self, pid: int, references: Sequence[float]) -> Promotion:
        """The best factor on each task (NaN where none trained to a finite loss)."""
        per_task, seconds = [], 0.0
        for task in self.tasks:
            runs = [(c, self.results[Trial(pid, task, c)]) for c in self.grid]
            seconds += math.fsum(r.seconds for _, r in runs)
            factor, best = min(runs, key=lambda run: run[1].fitness)
            per_task.append(TaskScore(task, factor if math.isfinite(best.fitness) else math.nan,
                                      best.fitness))
        return Promotion(pid, promoted_score(per_task, references, self.rule), tuple(per_task),
                         seconds)


def promoted_score(scores: Sequence[TaskScore], references: Sequence[float],
                   rule: str = "worst") -> float:
    """max_i (rule 'worst') or mean_i (rule 'mean') of log(loss_i / reference_i); the worst
    fitness if any loss is not finite."""
    if not all(math.isfinite(s.loss) and s.loss > 0 for s in scores):
        return WORST_FITNESS
    ratios = [math.log(s.loss / r) for s, r in zip(scores, references)]
    return max(ratios) if rule == "worst" else math.fsum(ratios) / len(ratios)
