"""Many trainings at once, for the proxy benchmark: each `Training` is a program trained on a
task (optionally at another batch size) at one lr scale over some seeds, with the interpreter.

They run on `threads` threads of this process, which share the compiled training loops (JAX
lets go of the GIL while it trains), as the search's workers do. The first training of each
(task, interpreter size) runs alone first, so that no two threads compile the same loop; its
time includes the compilation, which is why costs are read as medians (`cost_per_seed`).
"""
from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from lion_search.evaluation.fitness import Evaluator
from lion_search.evaluation.interpreter import size_for
from lion_search.evaluation.results import EvalResult
from lion_search.evaluation.tasks import get_task
from lion_search.language.program import Program


class TaskRef(NamedTuple):
    """A built-in task, at its own batch size (None) or another."""

    name: str
    batch: int | None = None

    @property
    def label(self) -> str:
        return self.name if self.batch is None else f"{self.name} batch {self.batch}"


class Training(NamedTuple):
    """One program (by its corpus name) on one task at lr scale `lr`, over `seeds`."""

    program: str
    task: TaskRef
    lr: float
    seeds: tuple[int, ...]


Progress = Callable[[int, int], None]   # (trainings done, trainings in all)


def train_all(trainings: Iterable[Training], programs: Mapping[str, Program], threads: int,
              progress: Progress | None = None) -> dict[Training, EvalResult]:
    """Each distinct training's result (`EvalResult.seconds`: its wall time on its thread)."""
    todo = list(dict.fromkeys(trainings))
    evaluators: dict[tuple[TaskRef, tuple[int, ...]], Evaluator] = {}
    for training in todo:
        key = (training.task, training.seeds)
        if key not in evaluators:
            task = get_task(training.task.name, batch_size=training.task.batch)
            evaluators[key] = Evaluator(task, training.seeds)

    def run(training: Training) -> EvalResult:
        evaluator = evaluators[training.task, training.seeds]
        return evaluator.evaluate_many([programs[training.program]], lr_scale=training.lr)[0]

    first: dict[tuple, Training] = {}
    for training in todo:
        first.setdefault((training.task, size_for(programs[training.program])), training)
    results: dict[Training, EvalResult] = {}
    for training in first.values():
        results[training] = run(training)
        if progress:
            progress(len(results), len(todo))
    rest = [t for t in todo if t not in results]
    with ThreadPoolExecutor(threads, thread_name_prefix="lion-search-bench") as pool:
        for training, result in zip(rest, pool.map(run, rest)):
            results[training] = result
            if progress:
                progress(len(results), len(todo))
    return results


def cost_per_seed(results: Mapping[Training, EvalResult], task: TaskRef) -> float:
    """The median wall time of one training of one seed on `task` (compilations, which only
    the first trainings pay, fall outside the median)."""
    seconds = [r.seconds / len(t.seeds) for t, r in results.items() if t.task == task]
    if not seconds:
        raise ValueError(f"no training on {task.label} to time")
    return statistics.median(seconds)
