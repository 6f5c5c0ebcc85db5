"""Promotion inside the search: the best distinct programs so far are re-trained on larger tasks.

Proxy wins alone are not discoveries. Every `every` trained evaluations the search takes its top
K programs by proxy fitness that are distinct after exact rewriting (`simplify.rewrite`, so that
equivalent programs are promoted once) and not promoted before, and trains each on the promotion
tasks (default: the funnel's stage B), on training seeds that no search trains on, at each
program's best learning rate there:

- The seed program's best lr moves between the proxy and a promotion task: once per run it is
  swept over CENTRE_GRID on each task, and the factor c_i where it is best is the task's centre.
- A candidate is trained at c_i * PROMOTION_GRID of its own lr, and the sweep grows by
  PROMOTION_STEP past an edge while its best lies there (`PromotionRound`).

With x_i = log(min_c L_i(c) / a_i), where L_i(c) is its mean validation loss over the seeds on
task i at lr factor c and a_i the seed program's own best through the same protocol, its
promoted score is

    worst (default):  score = max_i x_i      below 0 iff it beats the seed on every task
    mean:             score = mean_i x_i     large wins on some tasks can hide a loss on another

The seed itself scores 0, and the run's best is the best by promoted score: a run whose
candidates beat the seed nowhere hands over the seed. The verdict's reference stays AdamW fully
tuned on each task (`tune_references`: PROMOTION_TRIALS Optuna trials over its lr, b1, b2, eps
and weight decay; the tuning studies keep it), printed beside the score with both budgets
(`budgets`). A round's trainings are jobs for the search's workers, like its children.
"""
from __future__ import annotations

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

# A candidate's sweep on a promotion task: these factors of its lr, times the task's centre (how
# far the seed program's best lr moves from the proxy to that task), grown by PROMOTION_STEP
# past an edge while the best lies there, at most MAX_GROWTH times a side (runs journaled with 4
# kept 4: a third of the bests of a 15-minute run lay at that limit, BENCHMARKS section 16.4).
PROMOTION_STEP = 3 ** 0.5
PROMOTION_GRID: tuple[float, ...] = (1 / PROMOTION_STEP, 1.0, PROMOTION_STEP)
MAX_GROWTH = 10
# The seed program's own sweep on each promotion task, once per run: where the centre comes from.
CENTRE_GRID: tuple[float, ...] = tuple(PROMOTION_STEP ** k for k in range(-4, 5))
PROMOTION_TRIALS = 32     # the reference's trials per promotion task (AdamW fully tuned)
# How a promoted program's per-task log ratios combine, and what the score then means.
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
                          f"{', '.join(f'{c:.3g}' for c in grid)} of its own, moved as the "
                          "seed's best lr moves from the proxy to the task, and grown past an "
                          "edge while the best lies there); ranked against the seed program "
                          "through the same protocol",
            "note": f"the candidates got fewer trials ({len(grid)}+) than the reference "
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
    the task's factors (`grids[task]`), each sweep grown by `step` past an edge while its best
    lies there (at most `growth` times a side). `file` takes each training's result and says
    what to train next; `scores` reads the round once it is `finished`."""

    picks: list[tuple[int, Program]]
    tasks: tuple[str, ...]
    grids: dict[str, tuple[float, ...]]
    rule: str = "worst"     # one of verdict.PROMOTED_SCORES
    step: float = PROMOTION_STEP
    growth: int = MAX_GROWTH
    results: dict[Trial, EvalResult] = field(default_factory=dict)
    sent: set[Trial] = field(default_factory=set)

    def trials(self) -> list[tuple[Trial, Program]]:
        """The round's first trainings (each pick on each task at each factor of its grid)."""
        return self._send([Trial(pid, task, c) for task in self.tasks for pid, _ in self.picks
                           for c in self.grids[task]])

    def _send(self, trials: list[Trial]) -> list[tuple[Trial, Program]]:
        programs = dict(self.picks)
        self.sent.update(trials)
        return [(t, scale_lr(programs[t.program_id], t.factor)) for t in trials]

    def file(self, trial: Trial, result: EvalResult) -> list[tuple[Trial, Program]]:
        """Take one training's result; the trainings that extend its sweep (none, or one
        factor past the edge where the sweep's best lies once all of it is in)."""
        self.results[trial] = result
        grown = self.extension(trial.program_id, trial.task)
        return self._send([grown]) if grown else []

    def sweep(self, pid: int, task: str) -> list[tuple[float, EvalResult]]:
        """A pick's trainings on a task so far, by factor."""
        return sorted((t.factor, r) for t, r in self.results.items()
                      if t.program_id == pid and t.task == task)

    def extension(self, pid: int, task: str) -> Trial | None:
        """The next factor of a finished sweep whose best lies at an edge, strictly below the
        loss next to it (below the sweep when no factor trained to a finite loss), within
        `growth` steps of the task's grid. A tie is no edge: a program that ignores lr on a
        task trains alike at every factor, and a sweep grown for it only finds the tie again."""
        if any(t.program_id == pid and t.task == task and t not in self.results
               for t in self.sent):
            return None
        runs = self.sweep(pid, task)
        losses = [r.fitness for _, r in runs]
        low, high = min(self.grids[task]), max(self.grids[task])
        factor = None
        if not math.isfinite(min(losses)) or losses[0] < min(losses[1:]):
            factor = runs[0][0] / self.step
            factor = factor if factor > low / self.step ** (self.growth + 0.5) else None
        elif losses[-1] < min(losses[:-1]):
            factor = runs[-1][0] * self.step
            factor = factor if factor < high * self.step ** (self.growth + 0.5) else None
        return None if factor is None else Trial(pid, task, factor)

    @property
    def finished(self) -> bool:
        return len(self.results) == len(self.sent)

    def scores(self, references: Sequence[float]) -> list[Promotion]:
        """Each pick's promotion, scored against the reference loss of each task."""
        return [self._promotion(pid, references) for pid, _ in self.picks]

    def _promotion(self, pid: int, references: Sequence[float]) -> Promotion:
        """The best factor on each task (NaN where none trained to a finite loss)."""
        per_task, seconds = [], 0.0
        for task in self.tasks:
            runs = self.sweep(pid, task)
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
