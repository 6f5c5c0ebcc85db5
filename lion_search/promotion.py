"""Promotion inside the search: the best distinct programs so far are re-trained on larger tasks.

Proxy wins alone are not discoveries. Every `every` trained evaluations the search takes its top
K programs by proxy fitness that are distinct after exact rewriting (`simplify.rewrite`, so that
equivalent programs are promoted once) and not promoted before, and trains each on the promotion
tasks (default: the funnel's stage B) with its lr scaled by each factor c of a small grid. Its
promoted score is

    score = mean over tasks i of  log(min_c L_i(c) / r_i)

where L_i(c) is its mean validation loss over the seeds on task i at lr factor c, and r_i that
of AdamW with its lr swept on task i (computed once, at the first promotion). Score 0 ties tuned
AdamW; a failure on any task scores the worst. The run's best is the best by promoted score.
"""
from __future__ import annotations

import math
import time
from typing import NamedTuple, Sequence

from lion_search.compare import sweep
from lion_search.fitness import WORST_FITNESS, Evaluator
from lion_search.funnel import DEFAULT_STAGES, load_stages
from lion_search.language import Program
from lion_search.tasks import get_task

PROMOTION_GRID: tuple[float, ...] = (1 / 3, 1.0, 3.0)


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
    seconds: float


def stage_b_tasks(proxy: str) -> tuple[str, ...]:
    """The tasks of the default funnel's second stage ({proxy} stands for `proxy`)."""
    stages = load_stages(DEFAULT_STAGES, proxy).stages
    return stages[1].tasks if len(stages) > 1 else stages[0].tasks


def promote(programs: Sequence[tuple[int, Program]], tasks: Sequence[str], schedule: str,
            seeds: Sequence[int], references: Sequence[float],
            grid: Sequence[float] = PROMOTION_GRID) -> list[Promotion]:
    """Train each (id, program) on every task at every lr factor of `grid`; score it against
    the reference loss of each task."""
    start = time.perf_counter()
    per_task: dict[int, list[TaskScore]] = {pid: [] for pid, _ in programs}
    named = {str(pid): program for pid, program in programs}
    for task in tasks:
        evaluator = Evaluator(get_task(task, schedule), seeds)
        for c in sweep(named, evaluator, grid):
            per_task[int(c.name)].append(TaskScore(task, c.lr, c.fitness))
    seconds = (time.perf_counter() - start) / max(len(programs), 1)
    return [Promotion(pid, promoted_score(per_task[pid], references), tuple(per_task[pid]),
                      seconds) for pid, _ in programs]


def promoted_score(scores: Sequence[TaskScore], references: Sequence[float]) -> float:
    """mean_i log(loss_i / reference_i); the worst fitness if any loss is not finite."""
    if not all(math.isfinite(s.loss) and s.loss > 0 for s in scores):
        return WORST_FITNESS
    return math.fsum(math.log(s.loss / r)
                     for s, r in zip(scores, references)) / len(scores)
