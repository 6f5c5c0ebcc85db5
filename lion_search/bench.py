"""The speed benchmark: candidates trained per second by each evaluation path, side by side.

All three paths train the same distinct programs on the same task in one process, so their
ratios are measured under the same load:
  interpreter   the compile-once loop (one compile for the task, then any program)
  batched       the same loop vmapped over a batch of programs (meant for accelerators)
  per-program   a training loop jitted for each program (to_optax + optax), compile included
"""
from __future__ import annotations

import time
from typing import NamedTuple

import jax

from lion_search.calibrate import scale_lr
from lion_search.fitness import Evaluator
from lion_search.export import to_optax
from lion_search.language import Program
from lion_search.library import load_program
from lion_search.tasks import get_task
from lion_search.train import train


class Speed(NamedTuple):
    """One path's throughput."""

    path: str
    candidates: int
    seconds: float
    warmup: float        # the first call's time (compilation), not in `seconds`

    @property
    def rate(self) -> float:
        return self.candidates / self.seconds


def distinct_programs(n: int, seeds: tuple[str, ...] = ("adamw", "lion", "adam", "nadam")) -> list[Program]:
    """n distinct programs: seeds with distinct learning-rate constants."""
    return [scale_lr(load_program(seeds[i % len(seeds)]), 1e-3 * (1 + i / n)) for i in range(n)]


def _timed(path: str, run, programs: list[Program], warmup_program: Program) -> Speed:
    start = time.perf_counter()
    run([warmup_program])
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    run(programs)
    return Speed(path, len(programs), time.perf_counter() - start, warmup)


def benchmark(task_name: str = "digits-mlp", n_interpreted: int = 60, n_jitted: int = 6,
              batch_size: int = 8) -> list[Speed]:
    """Measure the three paths on `task_name`; the per-program path trains fewer programs
    (each costs a compile) and is measured from a cold start, as a search would meet it."""
    task = get_task(task_name)
    programs = distinct_programs(n_interpreted + 1)
    plain = Evaluator(task)
    batched = Evaluator(task, batched=True, batch_size=batch_size)

    def per_program(batch: list[Program]) -> None:
        for p in batch:
            jax.block_until_ready(train(task, to_optax(p, task.schedule)).val_loss)

    start = time.perf_counter()
    per_program(distinct_programs(n_jitted, seeds=("adamw", "lion")))
    per = Speed("per-program jit", n_jitted, time.perf_counter() - start, 0.0)
    return [_timed("interpreter", plain.evaluate_many, programs[1:], programs[0]),
            _timed("batched interpreter", batched.evaluate_many,
                   programs[1:1 + 2 * batch_size], programs[0]),
            per]
