"""`bench --workers N`: the deterministic main job with one worker and with N on identical work,
whole commands, several repeats (bench.scaling), printed with the ratio per repeat and what took
the cores."""
from __future__ import annotations

import os
from pathlib import Path

from rich.table import Table

from lion_search.cli.display import console


def bench_workers(counts: tuple[int, ...], budget: int, repeats: int, folder: Path) -> None:
    """Time the commands in FOLDER and print one table per worker count (one number, at least
    2; or 1 and it)."""
    from lion_search.bench.scaling import scaling_benchmark
    from lion_search.language.errors import LionSearchError

    workers = [n for n in counts if n != 1]
    if len(workers) != 1 or workers[0] < 2:
        raise LionSearchError(f"bench --workers takes the worker count to time against one "
                              f"(at least 2), got {','.join(map(str, counts))}")
    if budget < 1 or repeats < 1:
        raise LionSearchError(f"--budget and --repeats must be at least 1, got {budget} and "
                              f"{repeats}")
    many = workers[0]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with console.status(f"timing evolve --deterministic --budget {budget} with 1 and {many} "
                        f"workers, {repeats} times each, in {folder}"):
        repeats_run = scaling_benchmark(folder, many, budget, repeats)
    table = Table(title=f"lion-search evolve --deterministic --budget {budget} on {cores} cores "
                        f"(load {os.getloadavg()[0]:.1f} at the end): 1 against {many} workers, "
                        "whole commands, one after the other")
    for column in ("repeat", "workers", "seconds", "trained", "eval/s", "CPU s", "training s",
                   "promotion s", "other CPU s", "start-up s", f"{many} vs 1", "same work"):
        table.add_column(column, justify="right")
    for i, repeat in enumerate(repeats_run, 1):
        for run in (repeat.one, repeat.many):
            last = run is repeat.many
            table.add_row(str(i), str(run.workers), f"{run.seconds:.1f}", str(run.trained),
                          f"{run.rate:.2f}", f"{run.cpu:.1f}", f"{run.training:.1f}",
                          f"{run.promotion:.1f}", f"{run.other:.1f}", f"{run.startup:.1f}",
                          f"{repeat.ratio:.2f}x" if last else "",
                          ("yes" if repeat.same_work else "NO") if last else "")
    console.print(table)
    ratios = ", ".join(f"{r.ratio:.2f}x" for r in repeats_run)
    console.print(f"{many} workers against 1 on identical work (whole command): {ratios}")
    if not all(r.same_work for r in repeats_run):
        console.print("[bold red]warning:[/] some pairs journaled different work: the ratio "
                      "there is not of identical work")
