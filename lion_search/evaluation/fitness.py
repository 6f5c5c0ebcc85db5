"""Robust fitness: train programs on a proxy task with the interpreter and score them.

fitness(program) = mean over seeds of the validation loss after training (lower is better).
A run that diverges (NaN or Inf anywhere) or is cut at the hurdle gets WORST_FITNESS; no program
can make evaluation raise.
"""
from __future__ import annotations

import math
import time
from collections import defaultdict
from typing import Iterable, Sequence

import jax
import numpy as np

from lion_search.evaluation.interpreter import (
    Encoded,
    Size,
    compiled_batch_trainer,
    compiled_trainer,
    encode,
    size_for,
)
from lion_search.evaluation.results import EvalResult, combine_seeds
from lion_search.evaluation.tasks import get_task
from lion_search.language.program import Program
from proxy_tasks.base import Task


class Evaluator:
    """Scores programs on one task; keeps its compiled training loops warm between calls.

    `batched=True` trains programs of the same size together with the vmapped interpreter
    (in groups of `batch_size`, padded, so that the batch shape never changes). `multi_batch=P`
    trains them with the multi-program trainer (`multi_trainer`) in batches of P: the path written
    for accelerators.
    """

    def __init__(self, task: Task | str = "digits-mlp", seeds: Sequence[int] = (0,),
                 lr_scale: float = 1.0, batched: bool = False, batch_size: int = 8,
                 multi_batch: int = 0):
        self.task = get_task(task) if isinstance(task, str) else task
        self.seeds = tuple(seeds)
        self.lr_scale = lr_scale
        self.batched = batched
        self.batch_size = batch_size
        self.multi_batch = multi_batch

    def evaluate(self, program: Program, hurdle: float = math.inf) -> EvalResult:
        """Train `program` once per seed and score it."""
        return self.evaluate_many([program], hurdle)[0]

    def evaluate_many(self, programs: Iterable[Program], hurdle: float = math.inf,
                      lr_scale: float | None = None) -> list[EvalResult]:
        """Score each program, in order; `lr_scale` overrides the evaluator's for this call."""
        programs = list(programs)
        scale = self.lr_scale if lr_scale is None else lr_scale
        groups: dict[Size, list[int]] = defaultdict(list)
        for i, program in enumerate(programs):
            groups[size_for(program)].append(i)
        results: list[EvalResult | None] = [None] * len(programs)
        for size, indices in groups.items():
            if self.multi_batch:
                from lion_search.evaluation.multi_trainer import evaluate_multi

                chunk = evaluate_multi(self.task, [programs[i] for i in indices],
                                       self.seeds, scale, hurdle, self.multi_batch, size)
                for i, result in zip(indices, chunk):
                    results[i] = result
                continue
            encoded = [encode(programs[i], size) for i in indices]
            run = self._run_batched if self.batched else self._run_each
            for i, result in zip(indices, run(size, encoded, scale, hurdle)):
                results[i] = result
        return results

    def _run_each(self, size: Size, programs: list[Encoded], scale: float,
                  hurdle: float) -> list[EvalResult]:
        train = compiled_trainer(self.task, size)
        out = []
        for program in programs:
            start = time.perf_counter()
            runs = [jax.device_get(train(program, np.int32(s), np.float32(scale),
                                         np.float32(hurdle))) for s in self.seeds]
            val, losses, stopped = (np.stack(x) for x in zip(*runs))
            out.append(combine_seeds(val, losses, stopped, time.perf_counter() - start))
        return out

    def _run_batched(self, size: Size, programs: list[Encoded], scale: float,
                     hurdle: float) -> list[EvalResult]:
        train = compiled_batch_trainer(self.task, size)
        out = []
        for first in range(0, len(programs), self.batch_size):
            chunk = programs[first:first + self.batch_size]
            padded = chunk + [chunk[0]] * (self.batch_size - len(chunk))
            stacked = Encoded(*(np.stack(field) for field in zip(*padded)))
            start = time.perf_counter()
            runs = [jax.device_get(train(stacked, np.int32(s), np.float32(scale),
                                         np.float32(hurdle))) for s in self.seeds]
            seconds = (time.perf_counter() - start) / len(chunk)
            for j in range(len(chunk)):
                val, losses, stopped = (np.stack([run[k][j] for run in runs]) for k in range(3))
                out.append(combine_seeds(val, losses, stopped, seconds))
        return out


def evaluate(programs: Program | Iterable[Program], task: str = "digits-mlp",
             seeds: Sequence[int] = (0,), lr_scale: float = 1.0) -> list[EvalResult]:
    """Train each program on `task` once per seed; one EvalResult (`.fitness`, `.curve`) each."""
    if isinstance(programs, Program):
        programs = [programs]
    return Evaluator(task, seeds, lr_scale).evaluate_many(programs)
