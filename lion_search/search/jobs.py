"""The jobs that workers train, and how a worker trains them. The workers are threads of this
process (`in_process`) or Ray actors (`ray_pool`); both keep their compiled loops warm.

Both pools take jobs (an id, the program text and how to score it) and hand back results in
completion order. They start at once: the workers compile the training loops (`warm_up`) while
the first jobs queue, and `starting()` says what the pool is still waiting for. A Ray actor
that dies is replaced and its jobs are queued again, so nothing is lost.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

from lion_search.evaluation import task_flops
from lion_search.evaluation.results import HURDLE_AT, Status
from lion_search.language.parser import parse_program

STARTING, COMPILING = "starting workers", "compiling"   # what a pool can be waiting for
FIT_TO_MEMORY = -1       # EvalSpec.multi_batch: a multi-program batch sized from device memory


class Scoring(NamedTuple):
    """How a job is trained and scored: its tasks, in order (a candidate that diverges or is
    cut on one is not trained on the next), each task's hurdle loss (inf: none), each one's
    reference loss where fitness is the mean log ratio to them (one per task, or per task a
    tuple with one per training seed: a paired score), the training seeds (None: the
    workers' own, `EvalSpec.seeds`), and the factor on the program's learning rate."""

    tasks: tuple[str, ...]
    hurdles: tuple[float, ...]
    references: tuple[float | tuple[float, ...], ...] | None = None
    seeds: tuple[int, ...] | None = None
    lr_scale: float = 1.0


class Job(NamedTuple):
    """A program to train: an id chosen by the sender (the search's is the journal id), the
    program's text, and how to score it."""

    id: int
    text: str
    scoring: Scoring


class Done(NamedTuple):
    """A finished job, with its result on each task trained (fitness.EvalResult) and its
    score on each training seed (a paired score's per-seed log ratios; else the seeds' losses)."""

    id: int
    fitness: float
    status: str
    seconds: float
    worker: str
    per_task: tuple = ()
    per_seed: tuple[float, ...] = ()


@dataclass(frozen=True)
class EvalSpec:
    """What every worker shares: the tasks it compiles for at start (a job may name others),
    the lr schedule, the training seeds, and whether it trains batches at once: vmapped
    (`batched`), or in batches of `multi_batch` programs (the multi-program trainer;
    FIT_TO_MEMORY: as many as its device's memory holds, see `multi_trainer.fit_multi_batch`)."""

    tasks: tuple[str, ...]
    schedule: str
    seeds: tuple[int, ...]
    batched: bool = False
    multi_batch: int = 0


def train_jobs(jobs: Sequence[Job], spec: EvalSpec, worker: str) -> list[Done]:
    """Train jobs in order, each as its scoring says (the compiled loops are shared by every
    call in the process)."""
    from lion_search.evaluation.portfolio import PortfolioEvaluator

    done: list[Done] = []
    for scoring, group in itertools.groupby(jobs, key=lambda job: job.scoring):
        group = list(group)
        evaluator = PortfolioEvaluator(scoring.tasks, spec.schedule,
                                       scoring.seeds or spec.seeds, scoring.references,
                                       batched=spec.batched, multi_batch=spec.multi_batch)
        results = evaluator.evaluate_many([parse_program(job.text) for job in group],
                                          scoring.hurdles, scoring.lr_scale)
        done += [Done(job.id, r.fitness, r.status, r.seconds, worker, r.per_task, r.per_seed)
                 for job, r in zip(group, results)]
    return done


def estimated_flops(tasks: Sequence[str], seeds: int, status: str = Status.OK) -> int:
    """A job's work as a deterministic search counts it: a training on each of `tasks` per
    training seed, in estimated flops, whole, or the first 1/HURDLE_AT of it for a job cut at
    the hurdle (`status`; most children are: counted whole, they made promotion's share look a
    third of what its seconds were). An integer: the same sum in every run, in any order,
    however long the trainings took."""
    whole = seeds * sum(task_flops.task_flops(task) for task in tasks)
    return whole // HURDLE_AT if status == Status.HURDLE else whole


def warm_up(spec: EvalSpec, texts: Sequence[str], tasks: Sequence[str]) -> None:
    """Compile the training loops that the programs' sizes need on each of `tasks`: each
    program is trained up to the first hurdle check (a quarter of training), at a hurdle that
    every run fails."""
    from lion_search.evaluation.interpreter import size_for

    by_size = {size_for(parse_program(text)): text for text in texts}
    train_jobs([Job(-1, text, Scoring((task,), (-math.inf,))) for task in tasks
                for text in by_size.values()], spec, "warm-up")
