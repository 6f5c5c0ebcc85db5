"""The journal benchmark: how long a user waits for the commands that read a large run journal.

`build_journal` makes a run of `programs` programs (the Lion search journaled 200,000 to
300,000) by the real search: regularized evolution from AdamW with the real mutation
operators, dedup, lr check, promotion rounds, meta-validation and hall of fame, on the cheap
tasks JOURNAL_TASKS; only the training is synthetic (`bench.synthetic_pool`: a fitness made
from a hash of the program's text, not a loss of any task), and the journal says so (its meta
value "synthetic"). The promotion reference is the one real training: AdamW tuned on the
promotion task, which the tuning studies keep.

`time_commands` then times whole `lion-search` commands on a copy of that run, one after the
other, as a user runs them: `show RUN:best`, `show RUN:ID` (its newest program), `show RUN`,
`report RUN`, `evolve --resume` (to its first new trained evaluation, as the journal's
start-up record says, and whole: 20 more evaluations on the real task) and `salvage`, after
the floor they all share (importing the program language, which imports JAX). Before them the
copy is opened once in this process and its hall of fame written, which upgrades a journal of
an older schema version and fills its hall (timed apart: a one-time cost; nothing to do for a
journal written by this version).
"""
from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Callable, NamedTuple

from lion_search.bench.speed import lion_search_command
from lion_search.bench.synthetic_pool import SyntheticPool
from lion_search.runs.hall_of_fame import write_hall_of_fame
from lion_search.runs.journal import JOURNAL, EvalKind, RunStore
from lion_search.search.config import EvolveConfig
from lion_search.search.evolution import Search

# The run's tasks (as `evolve --task quadratic --promote-tasks rosenbrock --metaval-task logreg`):
# the resumed search trains on the first, and the promotion reference is tuned on the second.
JOURNAL_TASKS = {"task": "quadratic", "promote_tasks": "rosenbrock", "metaval_task": "logreg"}
RESUME_MORE = 20          # trained evaluations the timed resume adds


class CommandTime(NamedTuple):
    """One timed command: what it is, its arguments, and its wall-clock seconds."""

    label: str
    args: tuple[str, ...]
    seconds: float
    note: str = ""


class JournalReport(NamedTuple):
    """The journal that was timed and the times."""

    folder: Path
    programs: int
    evaluations: int
    megabytes: float
    upgrade: float        # opening the copy and writing its hall (an upgrade's, if any)
    commands: tuple[CommandTime, ...]


def benchmark_journal(run: Path) -> int | None:
    """The programs of the benchmark journal in `run` (None where there is none, or where it
    was not finished)."""
    if not (run / JOURNAL).is_file():
        return None
    store = RunStore.open(run)
    try:
        built = store.value("synthetic")
        return built["programs"] if built and store.state() == "stopped" else None
    finally:
        store.close()


def build_journal(folder: Path, programs: int, rng_seed: int = 0,
                  progress: Callable[[int], None] = lambda journaled: None) -> Path:
    """Write a run of `programs` programs into `folder` (replacing any run there) by the real
    search with synthetic training (see the module docstring); `progress(programs so far)` is
    called now and then. Returns the folder."""
    # Without re-mutation: most children are cache hits, as in the Lion search's journals
    # (about 89%), the most rows a journal of `programs` programs can have. Asynchronous: the
    # search is stopped at `programs` programs, and a deterministic one would keep only what
    # it wrote up to its last checkpoint.
    config = EvolveConfig(**JOURNAL_TASKS, budget=programs, workers=1, rng_seed=rng_seed,
                          remutations=0, deterministic=False)
    config.check()
    store = RunStore.create(folder, config.to_json(), force=True)
    pool: Future = Future()
    pool.set_result(SyntheticPool(config.seeds))
    search = Search(store, config, pool=pool)
    ticks = itertools.count()

    def enough() -> bool:
        journaled = store.last_program_id()
        if next(ticks) % 1000 == 0:
            progress(journaled)
        return journaled >= programs

    try:
        store.set_state("running")
        store.set_value("synthetic", {
            "by": "lion-search bench --journal", "programs": programs, "rng_seed": rng_seed,
            "fitness": "synthetic (bench.synthetic_pool): a hash of the program text, not a "
                       "loss"})
        search.setup()
        search.load()
        search.run(stop=enough)
        store.set_state("stopped")
    finally:
        search.close()
        store.close()
    return folder


def _timed(label: str, args: tuple[str, ...], note: str = "",
           command: tuple[str, ...] | None = None) -> CommandTime:
    """Run `lion-search ARGS` (or `command`) to its end (it must succeed) and time it."""
    start = time.perf_counter()
    subprocess.run(list(command or (*lion_search_command(), *args)), check=True,
                   capture_output=True)
    return CommandTime(label, args, time.perf_counter() - start, note)


def time_commands(run: Path, scratch: Path) -> JournalReport:
    """Time the commands of the module docstring on a copy of `run` in `scratch` (replaced)."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    copy = scratch / run.name
    copy.mkdir()
    shutil.copy2(run / JOURNAL, copy / JOURNAL)
    start = time.perf_counter()
    store = RunStore.open(copy)
    try:
        write_hall_of_fame(store)
        upgrade = time.perf_counter() - start
        newest = store.last_program_id()
        trained = store.count(EvalKind.SEARCH, cached=False)
        evaluations = store.last_evaluation_id()
    finally:
        store.close()
    target = str(copy)
    commands = [_timed("import the program language", (), "the floor of a command that "
                       "parses a program (the language imports JAX)",
                       (sys.executable, "-c", "import lion_search.language.parser")),
                _timed("show RUN:best", ("show", f"{target}:best")),
                _timed("show RUN:ID", ("show", f"{target}:{newest}"),
                       f"#{newest}, the newest program"),
                _timed("show RUN", ("show", target)),
                _timed("report RUN", ("report", target)),
                _timed("salvage RUN", ("salvage", target, "-o", str(scratch / "salvaged")))]
    resume = _timed("evolve --resume", ("evolve", "--out", target, "--resume", "--budget",
                                        str(trained + RESUME_MORE), "--workers", "1"),
                    f"whole command, {RESUME_MORE} more trained evaluations")
    store = RunStore.open(copy)
    try:
        first = store.value("startup")["first_evaluation_s"]
    finally:
        store.close()
    commands.append(CommandTime("evolve --resume: first new evaluation", resume.args, first,
                                "from the command's start (its journaled start-up record)"))
    commands.append(resume)
    return JournalReport(run, newest, evaluations, os.path.getsize(run / JOURNAL) / 2**20,
                         upgrade, tuple(commands))
