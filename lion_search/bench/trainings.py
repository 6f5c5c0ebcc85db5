"""Many trainings at once, for the proxy benchmark: each `Training` is a program trained on a
task (optionally at another batch size) at one lr scale over some seeds, with the interpreter.

A `Trainer` runs them on `threads` threads of this process, which share the compiled training
loops (JAX lets go of the GIL while it trains), as the search's workers do, and keeps every
result, so that a training asked for twice (by two proxies sharing a task) runs once. The first
training of each (task, interpreter size) runs alone first, so that no two threads compile the
same loop; its time includes the compilation, which is why costs are medians (`cost_per_seed`).

`adaptive_sweep` tunes the lr of many programs at once: a log grid around each program's
centre, extended one grid step beyond an edge while the best lr lies on that edge.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, TypeVar

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


Progress = Callable[[int, int], None]   # (trainings done, trainings asked for so far)


class Trainer:
    """Trains the corpus `programs` on `threads` threads and keeps every result."""

    def __init__(self, programs: Mapping[str, Program], threads: int,
                 progress: Progress | None = None):
        self.programs = programs
        self.threads = threads
        self.progress = progress
        self.results: dict[Training, EvalResult] = {}
        self.evaluators: dict[tuple[TaskRef, tuple[int, ...]], Evaluator] = {}
        self.asked = 0

    def _evaluator(self, training: Training) -> Evaluator:
        """The evaluator of a training's task and seeds (built once, by the calling thread)."""
        key = (training.task, training.seeds)
        if key not in self.evaluators:
            task = get_task(training.task.name, batch_size=training.task.batch)
            self.evaluators[key] = Evaluator(task, training.seeds)
        return self.evaluators[key]

    def _run(self, training: Training) -> EvalResult:
        return self._evaluator(training).evaluate_many([self.programs[training.program]],
                                                       lr_scale=training.lr)[0]

    def _done(self, training: Training, result: EvalResult) -> None:
        self.results[training] = result
        if self.progress:
            self.progress(len(self.results), self.asked)

    def train(self, trainings: Iterable[Training]) -> dict[Training, EvalResult]:
        """The result of each training (`EvalResult.seconds`: its wall time on its thread),
        training those not trained before."""
        wanted = list(dict.fromkeys(trainings))
        todo = [t for t in wanted if t not in self.results]
        self.asked += len(todo)
        compiled = {(t.task, size_for(self.programs[t.program])) for t in self.results}
        first: dict[tuple, Training] = {}
        for training in todo:
            key = (training.task, size_for(self.programs[training.program]))
            if key not in compiled:
                first.setdefault(key, training)
        for training in first.values():
            self._done(training, self._run(training))
        rest = [t for t in todo if t not in self.results]
        if rest:
            for training in rest:                  # built here, not in the threads
                self._evaluator(training)
            with ThreadPoolExecutor(self.threads, thread_name_prefix="lion-search-bench") as pool:
                for training, result in zip(rest, pool.map(self._run, rest)):
                    self._done(training, result)
        return {t: self.results[t] for t in wanted}

    def cost_per_seed(self, task: TaskRef) -> float:
        """The median wall time of one training of one seed on `task` (compilations, which
        only the first trainings pay, fall outside the median)."""
        seconds = [r.seconds / len(t.seeds) for t, r in self.results.items() if t.task == task]
        if not seconds:
            raise ValueError(f"no training on {task.label} to time")
        return statistics.median(seconds)


V = TypeVar("V")
Score = Callable[[dict[str, list[float]]], dict[str, dict[float, V]]]


def adaptive_sweep(centres: Mapping[str, float], factors: Sequence[float], extend: int,
                   score: Score, key: Callable[[V], float]) -> dict[str, dict[float, V]]:
    """Each program's results at lr = centre x f for every factor f of the log grid `factors`
    (`score` trains a dict program -> lrs and returns program -> lr -> result; `key` reads a
    result's loss, lower is better, inf for a failure), then, up to `extend` times, one grid
    step further beyond the edge where a program's best lr lies (not for a program whose every
    lr failed)."""
    step = factors[1] / factors[0] if len(factors) > 1 else math.sqrt(10)
    results = score({name: [c * f for f in factors] for name, c in centres.items()})
    for _ in range(extend):
        more = {}
        for name, runs in results.items():
            best = min(runs, key=lambda lr: key(runs[lr]))
            if not math.isfinite(key(runs[best])):
                continue
            if best == min(runs):
                more[name] = [best / step]
            elif best == max(runs):
                more[name] = [best * step]
        if not more:
            break
        for name, runs in score(more).items():
            results[name].update(runs)
    return results
