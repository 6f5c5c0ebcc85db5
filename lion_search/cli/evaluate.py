"""Measuring: `eval` (a program against baselines, each tuned on the same budget) and
`bench` (candidates/s of each evaluation path, the population trainer, or whole evolve
commands)."""
from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path

from rich.table import Table

from lion_search.cli.display import console, fitness_text

EVAL_PLOTS = Path("runs") / "eval"   # where `eval` writes its plots unless told
EVAL_TRIALS = 32                     # `eval`'s trials per optimizer unless --tune says


def changed_constants(tuned) -> str:
    """The tuned hyperparameters that moved, as 'b1 0.9 -> 0.739'."""
    return ", ".join(f"{n} {before:.4g} -> {tuned.values[n]:.4g}"
                     for n, before in tuned.start.items()
                     if n in tuned.values and tuned.values[n] != before)


def cmd_eval(args: argparse.Namespace) -> None:
    """Train a program and baselines, each tuned on the same budget (`--tune`), and compare
    them; every row says what its tuning spent."""
    from lion_search.evaluation.lr_sweep import DEFAULT_GRID
    from lion_search.evaluation.tasks import get_task
    from lion_search.evaluation.tuning import TuneSpec, declaration_for, tune_all
    from lion_search.inspect.plots import plot_curves, plot_lr_sensitivity
    from lion_search.language.errors import LionSearchError
    from lion_search.runs.references import load_program

    if args.grid is not None and args.tune not in (None, "lr"):
        raise LionSearchError("--grid is the lr grid of --tune lr; with --tune N, drop --grid")
    grid = DEFAULT_GRID if args.grid is None else tuple(float(x) for x in args.grid.split(","))
    spec = TuneSpec.parse(args.tune or ("lr" if args.grid is not None else str(EVAL_TRIALS)),
                          grid)
    names = (args.program, *args.vs)
    programs = {name: load_program(name) for name in names}
    declarations = {name: declaration_for(name, p) for name, p in programs.items()}
    task = get_task(args.task, args.schedule, args.steps, args.batch)
    with console.status(f"tuning {len(programs)} optimizers ({spec.count} trials x "
                        f"{len(args.seeds)} seed(s) each) on {task.name}") as status:
        tuned = tune_all(programs, task, args.seeds, spec, declarations, status.update)
    results = [t.comparison for t in tuned]
    table = Table(title=f"{task.name} ({task.description}, {task.steps} steps), seeds "
                        f"{','.join(map(str, args.seeds))}; each optimizer tuned on "
                        f"{spec.count} trials")
    for column in ("optimizer", "tuning budget", "best lr", "tuned constants", "val loss",
                   "spread", "status"):
        table.add_column(column, justify="left" if column in ("optimizer", "tuning budget",
                                                              "tuned constants") else "right")
    for t, c in zip(tuned, results):
        table.add_row(c.name, t.budget.describe(), f"{c.lr:.3g}", changed_constants(t),
                      fitness_text(c.fitness), f"{c.spread:.2g}" if math.isfinite(c.spread) else "",
                      c.result.status)
    console.print(table)
    if args.markdown:
        print("| optimizer | tuning budget | best lr | tuned constants | val loss | spread |\n"
              "|---|---|---|---|---|---|")
        for t, c in zip(tuned, results):
            print(f"| {c.name} | {t.budget.describe()} | {c.lr:.3g} | {changed_constants(t)} | "
                  f"{fitness_text(c.fitness)} | {c.spread:.2g} |")
    stem = f"{re.sub(r'[^0-9A-Za-z_.-]+', '_', Path(args.program).stem)}-{task.name}"
    plot = Path(args.plot or EVAL_PLOTS / f"{stem}.png")
    lr_plot = Path(args.lr_plot or EVAL_PLOTS / f"{stem}-lr.png")
    for path in (plot, lr_plot):
        path.parent.mkdir(parents=True, exist_ok=True)
    plot_curves({c.name: c.result.curve for c in results}, plot,
                f"training loss on {task.name} (best lr of each)")
    plot_lr_sensitivity({c.name: c.sweep for c in results}, lr_plot,
                        f"final validation loss of each trial against its lr on {task.name}")
    console.print(f"wrote {plot} (training loss at each optimizer's best lr) and {lr_plot} "
                  "(final validation loss against lr)")


def cmd_bench(args: argparse.Namespace) -> None:
    """Candidates/s of the interpreter, the batched interpreter and per-program jit; or with
    --startup, the start-up and workers benchmark; with --journal, the journal benchmark; with
    --rediscovery, the rediscovery rate; with --proxies, the proxy benchmark; or with --workers,
    scaling on identical work."""
    from lion_search.bench.speed import benchmark

    if args.startup:
        return bench_startup(Path(args.out or "runs/bench-startup"))
    if args.journal:
        from lion_search.cli.bench_journal import bench_journal

        return bench_journal(args.journal, Path(args.out or "runs/bench-journal"))
    if args.population:
        return bench_population(args.task, args.population)
    if args.seed_effects:
        from lion_search.bench.seed_effects import effect_lines, seed_effects

        with console.status("training AdamW with each source of randomness varied"):
            effects = seed_effects(args.seed_effects)
        for line in effect_lines(effects):
            console.print(line, highlight=False)
        return None
    if args.yardsticks:
        from lion_search.bench.yardsticks import check_run, yardstick_lines
        from lion_search.runs.journal import resolve_run

        with console.status("checking the promotion's yardsticks") as status:
            checks = check_run(resolve_run(args.yardsticks), lambda msg: status.update(msg))
        for line in yardstick_lines(checks):
            console.print(line)
        return None
    if args.rediscovery:
        from lion_search.cli.bench_rediscovery import bench_rediscovery

        return bench_rediscovery(args)
    if args.proxies:
        from lion_search.cli.bench_proxies import bench_proxies

        return bench_proxies(args)
    if args.workers:
        from lion_search.cli.bench_workers import bench_workers

        return bench_workers(args.workers, args.budget, args.repeats,
                             Path(args.out or "runs/bench-workers"))
    with console.status(f"benchmarking on {args.task}"):
        speeds = benchmark(args.task, args.candidates, args.jitted, args.batch_size)
    table = Table(title=f"candidates/s on {args.task} (one process, measured side by side)")
    for column in ("path", "candidates", "seconds", "candidates/s", "first call (s)",
                   "vs per-program jit"):
        table.add_column(column, justify="right")
    reference = speeds[-1].rate
    for s in speeds:
        table.add_row(s.path, str(s.candidates), f"{s.seconds:.2f}", f"{s.rate:.1f}",
                      f"{s.warmup:.2f}", f"{s.rate / reference:.1f}x")
    console.print(table)


def bench_population(task: str, populations: str) -> None:
    """Candidates/s of the batched interpreter and the population trainer at each population
    size P (bench.population_benchmark), with the memory they use."""
    from lion_search.bench.speed import population_benchmark

    sizes = tuple(int(x) for x in populations.split(","))
    with console.status(f"benchmarking populations of {populations} on {task}"):
        device, peak, speeds = population_benchmark(task, sizes)
    table = Table(title=f"candidates/s on {task}, {device} (one process, side by side)")
    for column in ("path", "P", "candidates", "seconds", "candidates/s", "compile (s)",
                   "XLA buffers (MiB)"):
        table.add_column(column, justify="right")
    for s in speeds:
        table.add_row(s.path, str(s.P), str(s.candidates), f"{s.seconds:.1f}", f"{s.rate:.2f}",
                      f"{s.compile:.1f}", f"{s.buffers / 2**20:.0f}")
    console.print(table)
    console.print(f"peak memory: {peak / 2**20:.0f} MiB (the device's peak bytes in use where "
                  "it reports them, else the process's peak resident set)")


def bench_startup(folder: Path) -> None:
    """Time whole `evolve` commands (bench.startup_benchmark) and print them with the ratios."""
    from lion_search.bench.speed import startup_benchmark

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with console.status(f"timing evolve commands in {folder} (several minutes)"):
        report = startup_benchmark(folder)
    table = Table(title=f"lion-search evolve on {cores} cores, one command after the other")
    for column in ("workers", "arguments", "seconds", "trained", "eval/s (whole command)",
                   "first trained evaluation (s)", "load after"):
        table.add_column(column, justify="right")
    for run in report:
        table.add_row(run.label, " ".join(run.args), f"{run.seconds:.1f}", str(run.trained),
                      f"{run.rate:.1f}", f"{run.first_evaluation:.2f}", f"{run.load:.2f}")
    console.print(table)
    console.print(f"first trained evaluation, default workers: "
                  f"{report.default_small.first_evaluation:.2f} s (compilation cache warm), "
                  f"{report.cold.first_evaluation:.2f} s (empty)\n"
                  f"budget {report.default_small.args[1]}: --workers 1 takes "
                  f"{report.default_vs_one:.2f}x the default's time (whole command)\n"
                  f"budget {report.two_large.args[1]}: two workers train "
                  f"{report.two_vs_one:.2f}x the evaluations per second of one (whole command); "
                  f"two Ray actors {report.ray_vs_one:.2f}x")
