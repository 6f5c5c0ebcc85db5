"""`bench --proxies`: the proxy benchmark's table and plot (bench.proxies), or with --targets,
the computation of its targets (bench.proxy_targets)."""
from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from lion_search.cli.display import console
from lion_search.language.errors import LionSearchError

PROXY_PLOT = Path("runs") / "bench" / "proxies.png"   # where the plot goes unless told


def _progress(label: str) -> tuple[Progress, Callable[[int, int], None]]:
    """A progress bar and the callback (done, total) that moves it."""
    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console, transient=True)
    task = bar.add_task(label, total=None)

    def advance(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, advance


def bench_proxies(args: argparse.Namespace) -> None:
    """Measure every candidate proxy against the shipped targets (or compute the targets)."""
    from lion_search.bench.proxies import (
        AGREEMENT,
        benchmark_proxies,
        candidate_proxies,
        markdown_table,
        supported,
    )
    from lion_search.bench.proxy_targets import (
        TARGETS_FILE,
        compute_targets,
        funnel_plan,
        load_corpus,
        read_targets,
        write_targets,
    )
    from lion_search.evaluation import xla
    from lion_search.inspect.plots import plot_agreement_against_cost
    from lion_search.search.config import default_workers

    if args.workers is not None and len(args.workers) != 1:
        raise LionSearchError(f"--proxies takes one --workers count, got "
                              f"{','.join(map(str, args.workers))}")
    workers = default_workers() if args.workers is None else args.workers[0]
    if workers < 1:
        raise LionSearchError(f"--workers must be at least 1, got {workers}")
    xla.size_thread_pool(workers)

    if args.run:
        if args.targets or args.corpus or args.targets_file:
            raise LionSearchError("--proxies --run ranks RUN's promoted programs against RUN's "
                                  "own promotion: it takes no --targets, --corpus or "
                                  "--targets-file")
        return bench_run_proxies(args.run, workers)
    programs = load_corpus(args.corpus) if args.corpus else load_corpus()
    path = Path(args.targets_file) if args.targets_file else TARGETS_FILE
    if args.targets:
        start = time.perf_counter()
        bar, advance = _progress(f"training {len(programs)} programs on the target tasks")
        with bar:
            targets = compute_targets(programs, funnel_plan(), workers, advance)
        write_targets(targets, path)
        failed = sum(not math.isfinite(r.loss) for r in
                     (r for per in targets.results.values() for r in per.values()))
        console.print(f"wrote {path}: {len(programs)} programs x {len(targets.plan.tasks)} target "
                      f"tasks ({failed} failed at every lr) in {time.perf_counter() - start:.0f} s")
        return
    targets = read_targets(programs, path)
    tasks = targets.plan.tasks
    start = time.perf_counter()
    bar, advance = _progress(f"training {len(programs)} programs on the candidate proxies")
    with bar:
        rows = benchmark_proxies(programs, targets, candidate_proxies(tasks), workers,
                                 advance)
    table = Table(title=f"Kendall tau of each proxy against the targets, {len(programs)} "
                        f"programs ({time.perf_counter() - start:.0f} s, {workers} "
                        f"thread(s))")
    for column in ("proxy", "s/eval", *tasks, "mean rank", "mean rank, other targets"):
        table.add_column(column, justify="left" if column == "proxy" else "right")
    for r in rows:
        table.add_row(r.proxy.name, f"{r.seconds:.3f}",
                      *(f"{r.taus[t]:+.2f}" for t in tasks), f"{r.tau_mean:+.2f}",
                      "" if math.isnan(r.tau_other) else f"{r.tau_other:+.2f}")
    console.print(table)
    print(markdown_table(rows, tasks))
    choice, reached = supported(rows)
    console.print(f"the proxy the table supports: {choice.proxy.name} (tau {choice.tau_other:+.2f} "
                  f"against the mean rank of the targets it does not contain, "
                  f"{choice.seconds:.3f} s per evaluation): "
                  + (f"the cheapest with tau >= {AGREEMENT:g}" if reached else
                     f"no proxy reaches tau {AGREEMENT:g}; this one comes closest"))
    plot = Path(args.plot or PROXY_PLOT)
    plot.parent.mkdir(parents=True, exist_ok=True)
    plot_agreement_against_cost([(r.proxy.name, r.seconds, r.tau_other) for r in rows],
                                AGREEMENT, plot,
                                f"proxies against the targets ({len(programs)} programs)")
    console.print(f"wrote {plot}")


def bench_run_proxies(run: str, workers: int) -> None:
    """Rank a run's promoted programs on every candidate proxy against its promotion."""
    from lion_search.bench.run_proxies import (
        RUN_SEEDS,
        agreement_table,
        rank_against_run,
        read_promoted,
    )
    from lion_search.runs.journal import resolve_run

    folder = resolve_run(run)
    try:
        targets = read_promoted(folder)
    except ValueError as err:
        raise LionSearchError(str(err)) from None
    start = time.perf_counter()
    bar, advance = _progress(f"training {len(targets.programs)} promoted programs on the "
                             "candidate proxies")
    with bar:
        rows = rank_against_run(targets, workers, advance)
    table = Table(title=f"Kendall tau of each proxy against {folder}'s promotion, "
                        f"{len(targets.programs)} promoted programs, seeds "
                        f"{', '.join(map(str, RUN_SEEDS))} ({time.perf_counter() - start:.0f} s, "
                        f"{workers} thread(s))")
    for column in ("proxy", "s/eval", "promoted score", *targets.tasks):
        table.add_column(column, justify="left" if column == "proxy" else "right")
    for r in rows:
        table.add_row(r.name, f"{r.seconds:.3f}" if r.seconds else "", f"{r.tau_score:+.2f}",
                      *(f"{r.taus[t]:+.2f}" for t in targets.tasks))
    console.print(table)
    print(agreement_table(rows, targets.tasks))
