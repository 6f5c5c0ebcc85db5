"""The speed benchmarks.

Candidates trained per second by each evaluation path, side by side. All three paths train the
same distinct programs on the same task in one process, so their ratios are measured under the
same load:
  interpreter   the compile-once loop (one compile for the task, then any program)
  batched       the same loop vmapped over a batch of programs (meant for accelerators)
  per-program   a training loop jitted for each program (to_optax + optax), compile included

Population (`population_benchmark`): the batched interpreter against the population trainer
(`population`), P programs a call, at several P, on the device JAX runs on.

Start-up and workers (`startup_benchmark`): whole `lion-search evolve` commands, one after the
other: the time from the command's start to the first trained evaluation (with the default
workers, from warm and from empty caches), the default against `--workers 1`
at budget 1,000 (whole command), and two workers against one at budget 2,000 (evaluations per
wall-clock second of the whole command), and two Ray actors against one worker there too.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import jax

from lion_search.evaluation.fitness import Evaluator
from lion_search.evaluation.tasks import get_task
from lion_search.evaluation.train import train
from lion_search.export.optax_module import to_optax
from lion_search.language.lr_scale import scale_lr
from lion_search.language.program import Program
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.runs.references import load_program


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


class PopulationSpeed(NamedTuple):
    """One path's throughput at population size P (`population_benchmark`)."""

    path: str
    P: int
    candidates: int
    seconds: float
    compile: float       # compiling the call for this P (ahead of time), not in `seconds`
    buffers: int         # bytes of XLA's buffers for one call: arguments, outputs, temporaries

    @property
    def rate(self) -> float:
        return self.candidates / self.seconds


def population_benchmark(task_name: str = "digits-mlp", populations: tuple[int, ...] = (16, 64),
                         batches: int = 1) -> tuple[str, int | None, list[PopulationSpeed]]:
    """Candidates/s of the batched interpreter (the single-program loop vmapped over P
    programs) and of the population trainer (`population`), side by side at each P, on the
    device JAX runs on: `batches` batches of P distinct programs each (seed 0, no hurdle),
    encoding included, compilation timed apart. Returns (the device, its peak bytes in use
    from `memory_stats` where the device reports it, else the process's peak resident set in
    bytes, the speeds)."""
    import resource

    import numpy as np

    from lion_search.evaluation.interpreter import (
        Encoded,
        compiled_batch_trainer,
        encode,
        size_for,
    )
    from lion_search.evaluation.multi_trainer import (
        common_size,
        compiled_multi_trainer,
        encode_programs,
    )

    task = get_task(task_name)
    seed, inf = np.int32(0), np.float32(np.inf)
    speeds = []

    def buffers(compiled) -> int:
        m = compiled.memory_analysis()
        return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes)

    for P in populations:
        chunks = [distinct_programs(P * batches)[i * P:(i + 1) * P] for i in range(batches)]
        # the batched interpreter: one Size for all (these programs share it)
        size = size_for(chunks[0][0])

        def stacked(chunk, size=size):
            return Encoded(*(np.stack(f) for f in zip(*(encode(p, size) for p in chunk))))

        start = time.perf_counter()
        compiled = compiled_batch_trainer(task, size).lower(
            stacked(chunks[0]), seed, np.float32(1), inf).compile()
        warm = time.perf_counter() - start
        start = time.perf_counter()
        for chunk in chunks:
            jax.block_until_ready(compiled(stacked(chunk), seed, np.float32(1), inf))
        speeds.append(PopulationSpeed("batched interpreter (vmap)", P, P * batches,
                                      time.perf_counter() - start, warm, buffers(compiled)))
        # the population trainer
        size = common_size([p for chunk in chunks for p in chunk])
        lrs, hurdles = np.ones(P, np.float32), np.full(P, np.inf, np.float32)
        start = time.perf_counter()
        compiled = compiled_multi_trainer(task, size, P).lower(
            encode_programs(chunks[0], size), seed, lrs, hurdles).compile()
        warm = time.perf_counter() - start
        start = time.perf_counter()
        for chunk in chunks:
            jax.block_until_ready(compiled(encode_programs(chunk, size), seed, lrs, hurdles))
        speeds.append(PopulationSpeed("population trainer", P, P * batches,
                                      time.perf_counter() - start, warm, buffers(compiled)))
    device = jax.devices()[0]
    stats = device.memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    if peak is None:  # ru_maxrss is in KiB on Linux
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return f"{device.platform}: {device.device_kind}", int(peak), speeds


class CommandRun(NamedTuple):
    """One `lion-search evolve` command, timed from outside, with what its journal says."""

    label: str
    args: tuple[str, ...]
    seconds: float            # wall clock of the whole command
    trained: int
    first_evaluation: float   # journaled: from the command's start to its first trained child
    load: float               # the 1-minute load average when it ended

    @property
    def rate(self) -> float:
        """Trained evaluations per wall-clock second of the whole command."""
        return self.trained / self.seconds


class StartupReport(NamedTuple):
    """The start-up benchmark's commands, and the ratios it is judged by."""

    cold: CommandRun          # default workers, a short run, empty compilation and trace caches
    default_small: CommandRun  # default workers, budget 1,000
    one_small: CommandRun     # --workers 1, budget 1,000
    two_large: CommandRun     # --workers 2, budget 2,000
    one_large: CommandRun     # --workers 1, budget 2,000
    ray_large: CommandRun     # --workers 2 as Ray actors on this machine, budget 2,000

    @property
    def default_vs_one(self) -> float:
        """Whole-command time of `--workers 1` over the default's at the smaller budget (>= 1:
        the default is at least as fast)."""
        return self.one_small.seconds / self.default_small.seconds

    @property
    def two_vs_one(self) -> float:
        """Evaluations per wall-clock second of two workers over one's at the larger budget."""
        return self.two_large.rate / self.one_large.rate

    @property
    def ray_vs_one(self) -> float:
        """The same for two Ray actors (`--address local`) over one worker."""
        return self.ray_large.rate / self.one_large.rate


def lion_search_command() -> list[str]:
    """How to run `lion-search` in a new process, as a user does (the console script beside
    this Python, else the module)."""
    script = Path(sys.executable).parent / "lion-search"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lion_search.cli"]


def time_evolve(label: str, args: tuple[str, ...], folder: Path,
                env: dict[str, str] | None = None) -> CommandRun:
    """Run `lion-search evolve ARGS --out FOLDER` to its end and time it."""
    start = time.perf_counter()
    subprocess.run([*lion_search_command(), "evolve", *args, "--out", str(folder), "--force"],
                   check=True, capture_output=True, env=env)
    seconds = time.perf_counter() - start
    store = RunStore.open(folder)
    try:
        trained = store.count(EvalKind.SEARCH, cached=False)
        first = store.value("startup")["first_evaluation_s"]
    finally:
        store.close()
    return CommandRun(label, args, seconds, trained, first, os.getloadavg()[0])


def startup_benchmark(folder: Path, budgets: tuple[int, int] = (1000, 2000)) -> StartupReport:
    """Run the start-up benchmark's commands in `folder` (see the module's docstring): first a
    short run with one promotion round, which fills the compilation cache, then a short run
    with an empty cache of its own (cold; no promotion or meta-validation, which come after the
    first evaluation), then the timed commands, with the default settings but for those named."""
    small, large = (str(b) for b in budgets)
    folder.mkdir(parents=True, exist_ok=True)
    time_evolve("fill the compilation cache", ("--budget", "40", "--promote-every", "20"),
                folder / "warm-up")
    with tempfile.TemporaryDirectory() as cache:
        cold = time_evolve("default, empty caches",
                           ("--budget", "20", "--promote-every", "0", "--metaval-task", "none"),
                           folder / "cold", {**os.environ, "JAX_COMPILATION_CACHE_DIR": cache,
                                             "LION_SEARCH_TRACED": f"{cache}/traced"})
    plan = [("default", ("--budget", small)),
            ("--workers 1", ("--budget", small, "--workers", "1")),
            ("--workers 2", ("--budget", large, "--workers", "2")),
            ("--workers 1", ("--budget", large, "--workers", "1")),
            ("--workers 2, Ray", ("--budget", large, "--workers", "2", "--address", "local"))]
    return StartupReport(cold, *(time_evolve(label, args, folder / f"run-{i}")
                                 for i, (label, args) in enumerate(plan)))
