"""Scaling measured on identical work (`bench --workers N`): whole `lion-search evolve
--deterministic` commands with one worker and with N, alternating, `repeats` times each.

A deterministic search trains the same programs whatever its number of workers (the benchmark
checks that each pair of journals agrees row by row), so the ratio of the two commands' wall
clocks is the speed-up alone, not the luck of what each run happened to search. Promotion,
meta-validation and the held-back check stay on, as in a user's run. A first command fills the
compilation cache and the tuning studies (AdamW, the promotion reference, is tuned there once;
a timed command finds it tuned), so that every timed command starts alike.

Per command it reads what took the cores (the command's CPU seconds, all threads):
  training     the workers' seconds training children, meta-validation and promotion (as
               journaled; the held-back check's trainings are not timed there)
  promotion    of which promotion rounds
  other        CPU seconds besides the training: the search process's own work (proposing,
               dedup keys, the lr check, filing results), start-up (calibration, compiling) and
               the reference tuning thread when it runs
  start-up     seconds from the command's start to its first trained evaluation
"""
from __future__ import annotations

import hashlib
import json
import resource
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from lion_search.bench.speed import lion_search_command
from lion_search.runs.journal import EvalKind, RunStore

TIMED_KINDS = (EvalKind.SEARCH, EvalKind.METAVAL, EvalKind.PROMOTED)   # kinds with seconds


class ScalingRun(NamedTuple):
    """One timed `evolve` command (see the module's docstring for the columns)."""

    workers: int
    seconds: float       # wall clock of the whole command
    cpu: float           # its CPU seconds, all threads
    trained: int
    training: float
    promotion: float
    startup: float
    journal: str         # a digest of its journal's rows, without times and workers

    @property
    def rate(self) -> float:
        """Trained evaluations per wall-clock second of the whole command."""
        return self.trained / self.seconds

    @property
    def other(self) -> float:
        """CPU seconds besides the workers' training."""
        return max(self.cpu - self.training, 0.0)


class ScalingRepeat(NamedTuple):
    """One worker against several on the same work, once."""

    one: ScalingRun
    many: ScalingRun

    @property
    def ratio(self) -> float:
        """How many times as fast the command with several workers was (wall clock)."""
        return self.one.seconds / self.many.seconds

    @property
    def same_work(self) -> bool:
        """Whether the two commands journaled the same rows."""
        return self.one.journal == self.many.journal


def journal_digest(folder: Path) -> str:
    """A digest of a journal's programs and evaluations (every kind, in journal order), without
    wall times and worker names: equal for two runs that did the same work."""
    digest = hashlib.sha256()
    store = RunStore.open(folder)
    try:
        for p in store.programs():
            digest.update(json.dumps([p.id, p.text, p.parent, p.mutation, p.origin]).encode())
        rows = sorted((e.id, e.program, e.kind, e.fitness, e.status, e.cached, e.task, e.seeds,
                       e.lr_factor, e.per_seed) for kind in EvalKind
                      for e in store.evaluations(kind))
        digest.update(json.dumps(rows).encode())
    finally:
        store.close()
    return digest.hexdigest()


def children_cpu() -> float:
    """CPU seconds (user and system) of this process's finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_evolve(args: Sequence[str], workers: int, folder: Path) -> ScalingRun:
    """Run `lion-search evolve ARGS --workers WORKERS --deterministic --out FOLDER` to its end
    and read its journal."""
    cpu, start = children_cpu(), time.perf_counter()
    subprocess.run([*lion_search_command(), "evolve", *args, "--workers", str(workers),
                    "--deterministic", "--out", str(folder), "--force"],
                   check=True, capture_output=True)
    seconds, cpu = time.perf_counter() - start, children_cpu() - cpu
    store = RunStore.open(folder)
    try:
        trained = store.count(EvalKind.SEARCH, cached=False)
        spent = {kind: sum(e.seconds for e in store.evaluations(kind)) for kind in TIMED_KINDS}
        startup = store.value("startup")["first_evaluation_s"]
    finally:
        store.close()
    return ScalingRun(workers, seconds, cpu, trained, sum(spent.values()),
                      spent[EvalKind.PROMOTED], startup, journal_digest(folder))


def scaling_benchmark(folder: Path, workers: int, budget: int, repeats: int = 3,
                      extra: Sequence[str] = ()) -> list[ScalingRepeat]:
    """The benchmark's commands in `folder` (see the module's docstring): a warm-up command,
    then `repeats` times one worker and `workers` on the default main job at `budget` (with
    the evolve arguments `extra`)."""
    folder.mkdir(parents=True, exist_ok=True)
    args = ("--budget", str(budget), *extra)
    timed_evolve(args, workers, folder / "warm-up")
    return [ScalingRepeat(timed_evolve(args, 1, folder / f"one-{i}"),
                          timed_evolve(args, workers, folder / f"many-{i}"))
            for i in range(repeats)]
