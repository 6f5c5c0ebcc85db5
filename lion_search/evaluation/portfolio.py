"""Portfolio fitness: a program scored on several tasks at once, each against a tuned reference.

A search scored on one small proxy finds programs that win there and lose elsewhere. Scored on a
portfolio of tasks T_1 .. T_n (an MLP, a CNN, a language model, ...), a candidate's fitness is

    fitness = mean over tasks i and training seeds s of  log(L_{i,s} / r_i)

where L_{i,s} is its validation loss on task i with seed s and r_i the mean validation loss of
the task's reference optimizer (AdamW, its learning rate swept once at the start of the run).
Fitness 0 is "as good as tuned AdamW on every task"; -0.1 is about 10% lower loss on geometric
average; no task's loss scale dominates. With a single task and no reference the fitness stays
that task's mean validation loss.

Paired: given the reference's loss on each task *and training seed*, r_{i,s}, the score is

    fitness = mean over tasks i and seeds s of  log(L_{i,s} / r_{i,s})

so that the luck of a training run (an easy initialisation or batch order), shared by both
optimizers on that seed, cancels: programs trained on different seeds compare fairly, and a
program's score over more seeds is the mean of its per-seed scores (`EvalResult.per_seed`).

A candidate that diverges, or is cut at a task's hurdle, on any task gets the worst fitness and
is not trained on the tasks after it, so the tasks run in the given order, cheapest first.
Named portfolios live in `proxy_tasks/portfolios.json`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from lion_search.evaluation.fitness import Evaluator
from lion_search.evaluation.results import WORST_FITNESS, EvalResult, Status
from lion_search.evaluation.tasks import (
    FLIPS,
    USER_TASK_FORMS,
    get_task,
    is_task_name,
    task_names,
)
from lion_search.language.errors import TaskError
from lion_search.language.program import Program

PORTFOLIOS_FILE = Path(__file__).resolve().parents[2] / "proxy_tasks" / "portfolios.json"
REFERENCE_PROGRAM = "adamw"


def portfolios() -> dict[str, tuple[str, ...]]:
    """The named portfolios: name -> its tasks, in training order."""
    data = json.loads(PORTFOLIOS_FILE.read_text())
    return {name: tuple(entry["tasks"]) for name, entry in data["portfolios"].items()}


def resolve_tasks(spec: str) -> tuple[str, ...]:
    """The tasks of `spec`: a portfolio name (`mix`), or task names joined by commas
    (`digits-mlp,text-lm`, `digits-mlp,my_tasks:make_task`), or one task name; a user's task
    (MODULE:FUNCTION, path/to/file.py:FUNCTION) is checked when it is built (`get_task`).
    Raises TaskError naming what is wrong."""
    named = portfolios()
    if spec in named:
        return named[spec]
    tasks = tuple(t.strip() for t in spec.split(","))
    for task in tasks:
        if not is_task_name(task):
            raise TaskError(f"unknown task {task!r} in --task {spec!r}; known tasks: "
                            f"{', '.join(task_names())}; portfolios: {', '.join(named)}; "
                            f"or your own: {USER_TASK_FORMS}; a task may end in {FLIPS}")
    if len(set(tasks)) != len(tasks):
        raise TaskError(f"--task {spec!r} names a task twice")
    return tasks


# The smallest loss ratio a task counts: a loss of 0 (a synthetic task solved exactly) would
# otherwise be log 0, and one task's million-fold gain outweighs any loss elsewhere anyway.
MIN_RATIO = 1e-6


Reference = float | Sequence[float]   # one task's reference loss, or one per training seed


def log_ratio_fitness(per_task: Sequence[EvalResult], references: Sequence[Reference]
                      ) -> tuple[float, tuple[float, ...]]:
    """(fitness, per-seed fitness): the mean over tasks and seeds of
    log(max(loss / reference, MIN_RATIO)), and for each seed the mean over tasks; the worst
    fitness if any run failed. A task's reference is one loss, or one per seed (paired)."""
    if any(r.status != Status.OK for r in per_task):
        return WORST_FITNESS, ()
    logs = np.array([[math.log(max(v / ref, MIN_RATIO))
                      for v, ref in zip(r.per_seed, np.broadcast_to(refs, len(r.per_seed)))]
                     for r, refs in zip(per_task, references)])   # [tasks, seeds]
    return float(logs.mean()), tuple(float(x) for x in logs.mean(axis=0))


class PortfolioEvaluator:
    """Scores programs on one or several tasks (the Evaluator interface: `evaluate_many`).

    `references[i]` is the reference loss r_i of task i, or one per seed (required with more
    than one task; with one, fitness is then relative too). `hurdles[i]` cuts a run on task i
    whose training loss at a quarter of training is above it.
    """

    def __init__(self, tasks: Sequence[str], schedule: str, seeds: Sequence[int],
                 references: Sequence[Reference] | None = None, batched: bool = False,
                 multi_batch: int = 0):
        if len(tasks) > 1 and (references is None or len(references) != len(tasks)):
            raise ValueError("a portfolio of several tasks needs one reference loss per task")
        self.tasks = tuple(tasks)
        self.references = tuple(references) if references is not None else None
        self.evaluators = [Evaluator(get_task(t, schedule), seeds, batched=batched,
                                     multi_batch=multi_batch) for t in tasks]

    @property
    def relative(self) -> bool:
        """Whether fitness is the mean log ratio to the references (several tasks, or paired
        references given)."""
        return self.references is not None

    def evaluate(self, program: Program, hurdles: Sequence[float] | None = None) -> EvalResult:
        return self.evaluate_many([program], hurdles)[0]

    def evaluate_many(self, programs: Iterable[Program], hurdles: Sequence[float] | None = None,
                      lr_scale: float | None = None) -> list[EvalResult]:
        """One EvalResult per program; `per_task` holds each task's result (tasks after a
        failure are not trained), `curve` is the first task's training curve."""
        programs = list(programs)
        hurdles = tuple(hurdles) if hurdles is not None else (math.inf,) * len(self.tasks)
        per_task: list[list[EvalResult]] = [[] for _ in programs]
        alive = list(range(len(programs)))
        for evaluator, hurdle in zip(self.evaluators, hurdles):
            results = evaluator.evaluate_many([programs[i] for i in alive], hurdle, lr_scale)
            for i, result in zip(alive, results):
                per_task[i].append(result)
            alive = [i for i, r in zip(alive, results) if r.status == Status.OK]
        references = self.references if self.relative else None
        return [combine(tuple(results), references) for results in per_task]


def combine(per_task: tuple[EvalResult, ...], references: Sequence[Reference] | None
            ) -> EvalResult:
    """A program's result over tasks from its result on each (`per_task`, in order): with
    references (several tasks), fitness is the mean log ratio to them; without, it is the one
    task's. `per_task` holds the results, `curve` is the first task's training curve."""
    first = per_task[0]
    if references is None:
        return first._replace(per_task=per_task)
    seconds = math.fsum(r.seconds for r in per_task)
    status = next((r.status for r in per_task if r.status != Status.OK), Status.OK)
    fitness, per_seed = log_ratio_fitness(per_task, references)
    return EvalResult(fitness, first.curve, status, seconds, per_seed, per_task)
