"""Promotion inside the search: the best distinct programs so far are re-trained on larger tasks.

Proxy wins alone are not discoveries. Every `every` trained evaluations the search takes its top
K programs by proxy fitness that are distinct after exact rewriting (`simplify.rewrite`, so that
equivalent programs are promoted once) and not promoted before, and trains each on the promotion
tasks (default: the funnel's stage B) with its lr scaled by each factor c of a small grid. With
x_i = log(min_c L_i(c) / r_i), where L_i(c) is its mean validation loss over the seeds on task i
at lr factor c and r_i that of AdamW fully tuned on task i (`tune_references`: PROMOTION_TRIALS
Optuna trials over its lr, b1, b2, eps and weight decay, at the first promotion; the tuning
studies keep it, so later runs with the same tasks, seeds and code train it no more), its
promoted score is

    worst (default):  score = max_i x_i      below 0 iff it beats tuned AdamW on every task
    mean:             score = mean_i x_i     large wins on some tasks can hide a loss on another

The default is the funnel's own rule (beat the baseline on every task): with the mean, the best
programs of six default runs beat AdamW by 1 to 46% on the digits tasks and lost by 5 to 18% on
the language model (BENCHMARKS section 12). Score 0 ties tuned AdamW; a failure on any task
scores the worst. The run's best is the best by promoted score.
A round's trainings are jobs for the search's workers, like its children (`PromotionRound`).
The candidates get len(grid) trials per task, over their lr alone, against the reference's
PROMOTION_TRIALS over its lr and constants: `budgets` says so, and `show` prints it.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Sequence

from lion_search.evaluation.portfolio import REFERENCE_PROGRAM
from lion_search.evaluation.results import WORST_FITNESS, EvalResult
from lion_search.evaluation.stages import DEFAULT_STAGES, load_stages
from lion_search.evaluation.tasks import get_task
from lion_search.evaluation.tuning import Tuned, TuneSpec, tune
from lion_search.language.library import read_program
from lion_search.language.lr_scale import scale_lr
from lion_search.language.program import Program

PROMOTION_GRID: tuple[float, ...] = (1 / 3, 1.0, 3.0)
PROMOTION_TRIALS = 32     # the reference's trials per promotion task (AdamW fully tuned)
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


def tune_references(tasks: Sequence[str], seeds: Sequence[int], trials: int = PROMOTION_TRIALS,
                    progress: Callable[[str], None] = lambda msg: None) -> list[Tuned]:
    """AdamW fully tuned on each promotion task: `trials` trials over its lr, b1, b2, eps and
    weight decay (`evaluation.tuning`; kept in the tuning studies, so trained once)."""
    adamw = read_program(REFERENCE_PROGRAM)
    return [tune(adamw, get_task(task), seeds, TuneSpec(trials=trials), REFERENCE_PROGRAM,
                 progress=progress) for task in tasks]


def budgets(reference_trials: int, grid: Sequence[float], seeds: int) -> dict[str, str]:
    """Each side's budget per task, in words, and a note where the candidates got fewer trials
    than the reference (empty if not)."""
    fewer = len(grid) < reference_trials
    return {"reference": f"AdamW: {reference_trials} trials x {seeds} seed(s) over its lr, b1, "
                         "b2, eps and weight decay",
            "candidates": f"{len(grid)} trials x {seeds} seed(s) over the lr alone (factors "
                          f"{', '.join(f'{c:.3g}' for c in grid)} of its own)",
            "note": f"the candidates got fewer trials ({len(grid)}) than the reference "
                    f"({reference_trials}), and none over their constants" if fewer else ""}


class Trial(NamedTuple):
    """One training of a promotion round: a pick (by its id) on one task with its lr scaled by
    `factor`."""

    program_id: int
    task: str
    factor: float


@dataclass
class PromotionRound:
    """A round of promotion as trainings for the search's workers: every pick on every task at
    every lr factor of `grid`. `results` fills in as the trainings finish; `scores` reads the
    round once all are in."""

    picks: list[tuple[int, Program]]
    tasks: tuple[str, ...]
    grid: tuple[float, ...]
    rule: str = "worst"     # one of PROMOTED_SCORES
    results: dict[Trial, EvalResult] = field(default_factory=dict)

    @functools.cached_property
    def trials(self) -> list[tuple[Trial, Program]]:
        """Each training and the program it trains (the program's lr scaled by the factor)."""
        return [(Trial(pid, task, c), scale_lr(program, c)) for task in self.tasks
                for pid, program in self.picks for c in self.grid]

    @property
    def finished(self) -> bool:
        return len(self.results) == len(self.trials)

    def scores(self, references: Sequence[float]) -> list[Promotion]:
        """Each pick's promotion, scored against the reference loss of each task."""
        return [self._promotion(pid, references) for pid, _ in self.picks]

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
