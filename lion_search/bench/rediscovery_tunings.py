"""The tunings of the rediscovery benchmark (`bench.rediscovery`), run `parallel` at once.

Each side is tuned on the test task as one `lion-search tune SOURCE --task TEST --trials N
--seeds 0,1 [--tune-constants K]` process (its output in OUT/tune-NAME.log), so that the
tunings take the cores the searches had: the benchmark's own calls then read the finished
studies (a study is keyed by what it tunes, not by the process), and train nothing again. A
tuning interrupted leaves its finished trials in its study, and the next run goes on from them.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Callable, NamedTuple

from lion_search.bench.speed import lion_search_command
from lion_search.language.errors import LionSearchError


class TuningJob(NamedTuple):
    """One tuning to run: `source` (a seed's name or a program file), its log's `name`, and
    how many of its constants are tuned (None: all its hyperparameters)."""

    name: str
    source: str
    constants: int | None


def tune_command(tuning: TuningJob, task: str, trials: int, seeds: tuple[int, ...]) -> list[str]:
    """The `lion-search tune` command of `tuning`."""
    constants = [] if tuning.constants is None else ["--tune-constants", str(tuning.constants)]
    return [*lion_search_command(), "tune", tuning.source, "--task", task, "--trials",
            str(trials), "--seeds", ",".join(map(str, seeds)), *constants]


def run_tunings(tunings: list[TuningJob], task: str, trials: int, seeds: tuple[int, ...],
                parallel: int, out: Path, progress: Callable[[str], None]) -> None:
    """Run every tuning's command, `parallel` at once, until all have ended; one error line
    naming those that failed and their logs."""
    todo, running, failed = list(tunings), {}, []
    try:
        while todo or running:
            while todo and len(running) < parallel:
                tuning = todo.pop(0)
                with open(out / f"tune-{tuning.name}.log", "w") as log:
                    running[tuning.name] = subprocess.Popen(
                        tune_command(tuning, task, trials, seeds), stdout=log,
                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            progress(f"tuning on {task}: {', '.join(running)} running, {len(todo)} to go "
                     f"({parallel} at once)")
            for name, process in list(running.items()):
                if process.poll() is not None:
                    if process.returncode:
                        failed.append(name)
                    del running[name]
            time.sleep(0.5 if running else 0)
    finally:    # interrupted: the tunings stop; their studies keep the finished trials
        for process in running.values():
            process.terminate()
        for process in running.values():
            process.wait()
    if failed:
        raise LionSearchError("tuning(s) failed: " + ", ".join(
            f"{name} (see {out}/tune-{name}.log)" for name in failed))
