"""A pool of workers that scores programs by a synthetic fitness instead of training them.

The journal benchmark (`bench.journal_scale`) drives the real search with it, so that its
journal holds what a search writes (children made by the real mutation operators, cache hits,
start-up calibration, promotion rounds, meta-validations, the hall of fame) at the cost of the
search process's own work alone. The numbers it journals are no task's losses: a program's
synthetic loss on a task is a function of its text, the task and the training seed,

    u = blake2b(task, text) / 2**64 in [0, 1)
    loss = 1 + u + 0.01 * (lines of text)     (the training seed moves it by at most 1%)

and SYNTHETIC_FAILED of the programs diverge (u below it). Its training curve falls linearly
from 3 * loss to loss, so the search's hurdles cut the programs whose loss is about twice the
seed's. Fitness, per task and over a portfolio, is then made from those losses by the search's
own rules (`portfolio.combine`). Everything is journaled with worker SYNTHETIC_WORKER.
"""
from __future__ import annotations

import hashlib
import math
from typing import Sequence

import numpy as np

from lion_search.evaluation.portfolio import combine
from lion_search.evaluation.results import EvalResult, Status
from lion_search.search.jobs import Done, Job

SYNTHETIC_WORKER = "synthetic"
SYNTHETIC_FAILED = 0.1       # the share of programs whose synthetic training diverges
SYNTHETIC_SECONDS = 0.05     # the training time journaled for each task of a job
CURVE_STEPS = 16             # points of a synthetic training curve


def _unit(*parts: object) -> float:
    """A number in [0, 1) drawn from `parts` by a hash (the same parts, the same number)."""
    digest = hashlib.blake2b("\n".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


def synthetic_loss(text: str, task: str, seed: int) -> float:
    """The synthetic validation loss of program `text` on `task` with training seed `seed`
    (inf: diverged); see the module docstring."""
    u = _unit(task, text)
    if u < SYNTHETIC_FAILED:
        return math.inf
    return (1.0 + u + 0.01 * text.count("\n")) * (1.0 + 0.01 * _unit(task, text, seed))


def synthetic_result(text: str, task: str, seeds: Sequence[int], hurdle: float) -> EvalResult:
    """The synthetic result of `text` on one task: the mean loss over `seeds`, cut when its
    curve at a quarter of training is above `hurdle` (as the interpreter cuts)."""
    losses = [synthetic_loss(text, task, seed) for seed in seeds]
    loss = math.fsum(losses) / len(losses)
    if not math.isfinite(loss):
        curve = np.full(CURVE_STEPS, np.nan)
        return EvalResult(math.inf, curve, Status.DIVERGED, SYNTHETIC_SECONDS, tuple(losses))
    curve = np.linspace(3.0 * loss, loss, CURVE_STEPS)
    if curve[CURVE_STEPS // 4] > hurdle:
        curve[CURVE_STEPS // 4 + 1:] = np.nan
        return EvalResult(math.inf, curve, Status.HURDLE, SYNTHETIC_SECONDS, tuple(losses))
    return EvalResult(loss, curve, Status.OK, SYNTHETIC_SECONDS, tuple(losses))


class SyntheticPool:
    """The pool interface of the search's workers (`in_process.InProcessPool`): jobs in, Done
    out, each scored by `synthetic_result` at once, on the training seeds its scoring names
    (default: `seeds`, the workers' own)."""

    def __init__(self, seeds: Sequence[int], capacity: int = 8):
        self.seeds = tuple(seeds)
        self.capacity = capacity
        self.queue: list[Job] = []

    @property
    def in_flight(self) -> int:
        return len(self.queue)

    def starting(self) -> str | None:
        """Nothing to wait for: no worker compiles."""
        return None

    def submit(self, jobs: Sequence[Job]) -> None:
        self.queue.extend(jobs)

    def wait(self, timeout: float | None = None) -> list[Done]:
        """Every job submitted so far, scored (never blocks)."""
        jobs, self.queue = self.queue, []
        return [self.score(job) for job in jobs]

    def score(self, job: Job) -> Done:
        """One job's synthetic result over its tasks, combined as the workers combine them."""
        seeds = job.scoring.seeds or self.seeds
        per_task = tuple(synthetic_result(job.text, task, seeds, hurdle)
                         for task, hurdle in zip(job.scoring.tasks, job.scoring.hurdles))
        result = combine(per_task, job.scoring.references)
        return Done(job.id, result.fitness, result.status, result.seconds, SYNTHETIC_WORKER,
                    result.per_task, result.per_seed)

    def close(self) -> None:
        self.queue.clear()
