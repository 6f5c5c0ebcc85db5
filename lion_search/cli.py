"""The `lion-search` command line: one subcommand per user task; every error is one line.

    lion-search evolve [--budget N]          run a search (the main job)
    lion-search show RUN | RUN:ID | NAME     what a run found, or one program
    lion-search export PROGRAM -o F.py       a standalone optax module (jax + optax only)
    lion-search programs | tasks             the seed programs, the proxy tasks
    lion-search eval PROGRAM --vs adamw,lion a fair comparison with swept learning rates
    lion-search bench                        candidates/s of each evaluation path
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator, Sequence

from rich.console import Console
from rich.table import Table

from lion_search.errors import LionSearchError

console = Console(highlight=False, soft_wrap=True)
EVAL_PLOTS = Path("runs") / "eval"   # where `eval` writes its plots unless told


def _fitness(x: float | None) -> str:
    return "failed" if x is None or not math.isfinite(x) else f"{x:.4g}"


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


# ------------------------------------------------------------------------ programs, export

def cmd_programs(args: argparse.Namespace) -> None:
    """List the seed programs with their memory cost and length."""
    from lion_search.library import SEEDS_DIR, load_program, seed_names
    from lion_search.shapes import format_cost, memory_cost

    table = Table(title=f"Seed programs ({SEEDS_DIR})")
    table.add_column("name", no_wrap=True)
    table.add_column("memory", justify="right")
    table.add_column("length", justify="right")
    table.add_column("source")
    for name in seed_names():
        program = load_program(name)
        first = (SEEDS_DIR / f"{name}.py").read_text().splitlines()[0].lstrip("# ")
        table.add_row(name, format_cost(memory_cost(program)), str(len(program)),
                      first.split("),")[0] + ")")
    console.print(table)


def cmd_show(args: argparse.Namespace) -> None:
    """Print a run's summary, or one program and its memory cost."""
    from lion_search.library import load_program
    from lion_search.lr_check import lr_warning
    from lion_search.shapes import format_cost, memory_cost
    from lion_search.summary import is_run, run_program, split_run_ref

    if is_run(args.target):
        return show_lineage(args) if args.lineage else show_run(args)
    ref = split_run_ref(args.target)
    program = load_program(args.target)
    fitness = run_program(*ref)[1] if ref else None
    steps = _ancestry(*ref) if ref else []
    warning = lr_warning(program)
    if args.json:
        from lion_search.lineage import lineage_json

        print(json.dumps({"name": program.name, "memory": memory_cost(program),
                          "slots": program.slots,
                          "length": len(program), "program": str(program),
                          "lr_warning": warning,
                          **({"fitness": fitness if math.isfinite(fitness) else None,
                              "ancestry": lineage_json(steps)} if ref else {})}, indent=2))
        return
    extra = f", fitness {_fitness(fitness)}" if ref else ""
    console.print(f"# {program.name}: memory cost {format_cost(memory_cost(program))} "
                  f"(parameter-sized copies, {program.slots} slot(s)), "
                  f"{len(program)} instruction(s){extra}")
    console.print(str(program), end="")
    _warn(warning)
    if steps:
        console.print("ancestry: " + " <- ".join(
            f"#{s.id} ({_fitness(s.fitness)})" for s in reversed(steps)))


def _warn(warning: str | None) -> None:
    """Print the lr check's warning about a program shown or exported, if it has one."""
    if warning:
        console.print(f"[bold yellow]warning:[/] {warning}")


def _ancestry(folder: Path, ref: str) -> list:
    from lion_search.lineage import ancestry
    from lion_search.store import RunStore
    from lion_search.summary import run_program

    row, _ = run_program(folder, ref)
    store = RunStore.open(folder)
    try:
        return ancestry(store, row.id)
    finally:
        store.close()


def show_lineage(args: argparse.Namespace) -> None:
    """The chain of mutations from the seed to a program, each step as a diff."""
    from lion_search.lineage import format_lineage, lineage_json
    from lion_search.store import resolve_run

    steps = _ancestry(resolve_run(args.target), args.lineage)
    if args.json:
        print(json.dumps(lineage_json(steps), indent=2))
    else:
        console.print(format_lineage(steps), markup=False)


def show_run(args: argparse.Namespace) -> None:
    """The summary of a run folder: counts, seeds, top programs and the best program."""
    from lion_search.shapes import format_cost
    from lion_search.store import RunStore, resolve_run
    from lion_search.summary import summarize

    store = RunStore.open(resolve_run(args.target))
    try:
        summary = summarize(store, args.top)
    finally:
        store.close()
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    console.print(f"run {summary['run']} ({summary['state']}): task {summary['task']}, "
                  f"{summary['evaluations']}/{summary['budget']} evaluations trained, "
                  f"{summary['cache_hits']} cache hits ({100 * summary['cache_hit_rate']:.0f}%)")
    if summary["startup"]:
        from lion_search.live import format_startup

        console.print(f"start-up: {format_startup(summary['startup'])}")
    for ref in summary["references"]:
        console.print(f"reference adamw on {ref['task']} (#{ref['id']}, lr x{ref['lr_scale']:g}): "
                      f"val loss {_fitness(ref['fitness'])}")
    if summary["references"]:
        console.print("fitness: mean over tasks and seeds of log(loss / reference loss); "
                      "0 ties tuned AdamW, below 0 beats it")
    for seed in summary["seeds"]:
        console.print(f"seed {seed['name']} (#{seed['id']}, lr x{seed['lr_scale']:g}): "
                      f"fitness {_fitness(seed['fitness'])}")
    promotion = summary["promotion"]
    if promotion["tasks"]:
        console.print(f"{promotion['promoted']} program(s) promoted to "
                      f"{', '.join(promotion['tasks'])}; promoted score: mean over those tasks "
                      "of log(loss / tuned AdamW's loss)")
    table = Table(title="best programs by proxy fitness")
    for column in ("id", "fitness", "promoted", "vs seed", "memory", "length", "found at",
                   "cache hits"):
        table.add_column(column, justify="right")
    for row in summary["top"]:
        table.add_row(str(row["id"]), _fitness(row["fitness"]),
                      _fitness(row["promoted"]) if row["was_promoted"] else "",
                      row["vs_seed"].removesuffix(" vs seed"),
                      format_cost(row["memory"]), str(row["length"]), f"eval {row['evaluation']}",
                      str(row["cache_hits"]))
    console.print(table)
    if summary["best"]:
        best = summary["best"]
        scores = f"fitness {_fitness(best['fitness'])}" + (
            f", promoted score {_fitness(best['promoted'])}" if best["by"] == "promoted score"
            else "")
        console.print(f"best program by {best['by']} (#{best['id']}; {scores})"
                      + (", simplified:" if best["simplified"] else
                         f"; `lion-search simplify {summary['run']}:best` cleans it up:"))
        console.print(best["simplified"] or best["program"], end="")
        _warn(best["lr_warning"])


def cmd_export(args: argparse.Namespace) -> None:
    """Write a program as a standalone optax module (`--framework torch`: a torch optimizer): a
    run's program in its simplified form (`--raw`: as journaled), named after the run, with the
    learning rate the search used."""
    from lion_search.export import DEFAULT_LR_ADVICE, write_module
    from lion_search.library import load_program
    from lion_search.lr_check import lr_warning
    from lion_search.summary import export_form, split_run_ref

    ref = split_run_ref(args.program)
    if ref:
        form = export_form(*ref, raw=args.raw)
        program, advice = form.program, (form.learning_rate, form.why)
        console.print(f"exporting {form.form}, as {program.name}")
    else:
        program, advice = load_program(args.program), DEFAULT_LR_ADVICE
    if args.framework == "torch":
        from lion_search.export_torch import optimizer_class, write_module
    path = write_module(program, args.output, advice)
    if args.framework == "torch":
        cls = optimizer_class(program)
        console.print(f"wrote {path}: `from {path.stem} import {cls}; optimizer = {cls}("
                      f"model.parameters(), lr={advice[0]:.3g})` ({advice[1]})")
    else:
        console.print(f"wrote {path}: `from {path.stem} import optimizer; "
                      f"tx = optimizer(learning_rate={advice[0]:.3g})` ({advice[1]})")
    _warn(lr_warning(program))


# ------------------------------------------------------------------------ tasks, eval, bench

def cmd_tasks(args: argparse.Namespace) -> None:
    """List the proxy tasks with their size and cost, and the named portfolios."""
    from lion_search.portfolio import portfolios
    from lion_search.tasks import schedule_names, task_table

    table = Table(title="Proxy tasks")
    for column in ("name", "scale", "params", "steps", "batch", "GFLOP/run", "description"):
        table.add_column(column, justify="right" if column in ("params", "steps", "batch",
                                                                "GFLOP/run") else "left")
    for info in task_table():
        table.add_row(info.name, info.scale, f"{info.n_params:,}", str(info.steps),
                      str(info.batch_size), f"{info.flops / 1e9:.2f}", info.description)
    console.print(table)
    console.print(f"schedules (--schedule): {', '.join(schedule_names())}")
    for name, tasks in portfolios().items():
        console.print(f"portfolio (--task {name}): {', '.join(tasks)}")


def cmd_eval(args: argparse.Namespace) -> None:
    """Train a program and baselines, each with its lr swept, and compare them."""
    from lion_search.compare import DEFAULT_GRID, sweep
    from lion_search.fitness import Evaluator
    from lion_search.library import load_program
    from lion_search.plots import plot_curves, plot_lr_sensitivity
    from lion_search.tasks import get_task

    programs = {name: load_program(name) for name in (args.program, *args.vs)}
    task = get_task(args.task, args.schedule, args.steps, args.batch)
    grid = DEFAULT_GRID if args.grid is None else tuple(float(x) for x in args.grid.split(","))
    with console.status(f"training {len(programs)} optimizers x {len(grid)} learning rates "
                        f"x {len(args.seeds)} seed(s) on {task.name}"):
        results = sweep(programs, Evaluator(task, args.seeds), grid)
    table = Table(title=f"{task.name} ({task.description}, {task.steps} steps); lr swept over "
                        f"{grid[0]:g}..{grid[-1]:g}, seeds {','.join(map(str, args.seeds))}")
    for column in ("optimizer", "best lr", "val loss", "spread", "status"):
        table.add_column(column, justify="left" if column == "optimizer" else "right")
    for c in results:
        table.add_row(c.name, f"{c.lr:.3g}", _fitness(c.fitness),
                      f"{c.spread:.2g}" if math.isfinite(c.spread) else "", c.result.status)
    console.print(table)
    if args.markdown:
        print("| optimizer | best lr | val loss | spread |\n|---|---|---|---|")
        for c in results:
            print(f"| {c.name} | {c.lr:.3g} | {_fitness(c.fitness)} | {c.spread:.2g} |")
    stem = f"{re.sub(r'[^0-9A-Za-z_.-]+', '_', Path(args.program).stem)}-{task.name}"
    plot = Path(args.plot or EVAL_PLOTS / f"{stem}.png")
    lr_plot = Path(args.lr_plot or EVAL_PLOTS / f"{stem}-lr.png")
    for path in (plot, lr_plot):
        path.parent.mkdir(parents=True, exist_ok=True)
    plot_curves({c.name: c.result.curve for c in results}, plot,
                f"training loss on {task.name} (best lr of each)")
    plot_lr_sensitivity({c.name: c.sweep for c in results}, lr_plot,
                        f"learning-rate sensitivity on {task.name}")
    console.print(f"wrote {plot} (training loss at each optimizer's best lr) and {lr_plot} "
                  "(final validation loss against lr)")


def cmd_bench(args: argparse.Namespace) -> None:
    """Candidates/s of the interpreter, the batched interpreter and per-program jit; or with
    --startup, the start-up and workers benchmark."""
    from lion_search.bench import benchmark

    if args.startup:
        return bench_startup(Path(args.out))
    if args.population:
        return bench_population(args.task, args.population)
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
    from lion_search.bench import population_benchmark

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
    from lion_search.bench import startup_benchmark

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


# ----------------------------------------------------------------------------------- evolve

def _config_from_args(args: argparse.Namespace) -> dict:
    """The EvolveConfig fields given on the command line."""
    from lion_search.mutate import MutationWeights

    fields = {k: getattr(args, k) for k in (
        "task", "schedule", "seeds", "budget", "population", "tournament", "seed_programs",
        "max_length", "max_memory", "restart_every", "restart_from", "hurdle", "workers",
        "batch_size", "address", "gpus_per_worker", "population_batch", "rng_seed",
        "metaval_every",
        "metaval_task", "promote_every", "promote_top", "promote_share", "promote_tasks", "promoted_seed")
        if getattr(args, k) is not None}
    if args.allow_lr_free:
        fields["allow_lr_free"] = True
    if args.mutation_weights:
        try:
            weights = {k: float(v) for k, v in (p.split("=") for p in args.mutation_weights.split(","))}
            fields["mutation_weights"] = MutationWeights(**weights)
        except (ValueError, TypeError):
            raise LionSearchError(f"--mutation-weights takes name=weight pairs such as "
                                  f"insert=1,delete=0.5; got {args.mutation_weights!r}") from None
    return fields


@contextlib.contextmanager
def _stop_on_interrupt() -> Iterator[threading.Event]:
    """While open, the first Ctrl-C only sets the event (the search loop polls it after each
    batch of results) and a second one raises KeyboardInterrupt.

    Not raising at once matters: Python drops an exception raised inside a garbage-collector
    callback (JAX registers one), printing its traceback, so a raised Ctrl-C could be lost.
    """
    requested = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield requested
    finally:
        signal.signal(signal.SIGINT, previous)


def with_gpu_workers(fields: dict) -> dict:
    """The search's settings with GPU workers where JAX sees GPUs and the user chose no
    --gpus-per-worker: a Ray actor per GPU (or --workers of them) training populations."""
    from lion_search.workers import visible_gpus

    gpus = visible_gpus() if "gpus_per_worker" not in fields else 0
    if not gpus:
        return fields
    console.print(f"{gpus} GPU(s) found: one worker per GPU trains populations of programs "
                  "(--gpus-per-worker 0 trains on the CPU instead)")
    return {"gpus_per_worker": 1.0, "workers": gpus, **fields}


def cmd_evolve(args: argparse.Namespace) -> int:
    """Run (or resume) a search, with a live view; Ctrl-C stops it cleanly and resumably."""
    from lion_search.config import EvolveConfig
    from lion_search.live import LiveView
    from lion_search.search import Search, process_started, start_pool
    from lion_search.store import RunStore, link_latest, new_run_folder, resolve_run

    if args.time_limit is not None and args.time_limit <= 0:
        raise LionSearchError(f"--time-limit must be a positive number of seconds, got {args.time_limit}")
    fields = _config_from_args(args)
    if args.resume:
        if not args.out:
            raise LionSearchError("--resume needs --out RUN_FOLDER (the run to continue)")
        store = RunStore.open(resolve_run(args.out), verify=True)   # whole, before appending
        stored = store.config
        overrides = {k: v for k, v in fields.items() if k in (
            "budget", "workers", "address", "batch_size", "gpus_per_worker", "population_batch")}
        config = EvolveConfig.from_json({**stored, **overrides})
        config.check()
        trained = store.count("search", cached=False)
        if trained >= config.budget:
            store.close()
            console.print(f"run {args.out} is finished: {trained}/{config.budget} evaluations "
                          "trained; raise --budget to continue it")
            return 0
        store.set_config(config.to_json())
    else:
        config = EvolveConfig(**with_gpu_workers(fields))
        config.check()
        out = Path(args.out) if args.out else new_run_folder()
        store = RunStore.create(out, config.to_json(), force=args.force)
        link_latest(out)
    pool = start_pool(config)   # the workers start while the search sets up
    console.print(f"run folder {store.folder}: task {config.task}, budget {config.budget}, "
                  f"population {config.population}, tournament {config.tournament}, "
                  f"{config.workers} worker(s)")
    view = LiveView(console)
    search = Search(store, config, view, pool, started=process_started())
    state = "interrupted"
    try:
        store.set_state("running")
        with view:
            if store.value("seeds") is None:
                search.setup()
            search.load()
            with _stop_on_interrupt() as interrupted:
                stats = search.run(args.time_limit, stop=interrupted.is_set)
        if not interrupted.is_set():
            state = "finished" if stats.trained >= config.budget else "stopped"
    except KeyboardInterrupt:
        pass
    finally:
        search.close()
        store.set_state(state)
        store.close()
    if state == "interrupted":
        console.print(f"interrupted; resume with: lion-search evolve --out {store.folder} --resume")
        return 130
    _print_outcome(store.folder, state)
    return 0


def _print_outcome(folder: Path, state: str) -> None:
    from lion_search.shapes import format_cost
    from lion_search.store import RunStore
    from lion_search.summary import summarize

    store = RunStore.open(folder)
    summary = summarize(store, 5)
    store.close()
    console.print(f"{state}: {summary['evaluations']} evaluations trained, "
                  f"{summary['cache_hits']} cache hits ({100 * summary['cache_hit_rate']:.0f}%)")
    table = Table(title="best programs")
    for column in ("id", "fitness", "vs seed", "memory", "length"):
        table.add_column(column, justify="right")
    for row in summary["top"]:
        table.add_row(str(row["id"]), _fitness(row["fitness"]),
                      row["vs_seed"].removesuffix(" vs seed"), format_cost(row["memory"]),
                      str(row["length"]))
    console.print(table)
    if summary["top"]:
        best = summary["top"][0]["id"]
        console.print(f"inspect: lion-search show {folder}   |   one program: lion-search show "
                      f"{folder}:{best}\nexport:  lion-search export {folder}:best -o my_opt.py")


def cmd_simplify(args: argparse.Namespace) -> None:
    """Simplify a program: dead code, rewrite rules, then ablation on the proxy. A run's
    program is scored as the run scores it, and the result is saved in the run."""
    from lion_search.fitness import Evaluator
    from lion_search.library import load_program
    from lion_search.lr_check import lr_warning
    from lion_search.simplify import format_report, simplify, simplify_in_run
    from lion_search.store import RunStore
    from lion_search.summary import run_program, split_run_ref

    ref = split_run_ref(args.program)
    if ref:
        row, _ = run_program(*ref)
        store = RunStore.open(ref[0])
        try:
            with console.status(f"simplifying #{row.id}" + ("" if args.no_ablation else
                                f" (ablation on {store.config.get('task')})")):
                report, pid = simplify_in_run(store, row.id, args.tolerance, not args.no_ablation)
        finally:
            store.close()
    else:
        program = load_program(args.program)
        evaluator = Evaluator(args.task or "digits-mlp")
        score = None if args.no_ablation else (lambda p: evaluator.evaluate(p).fitness)
        with console.status("simplifying" + ("" if score is None else
                                             f" (ablation on {evaluator.task.name})")):
            report = simplify(program, score, args.tolerance)
    console.print(format_report(report), markup=False)
    _warn(lr_warning(report.after))
    if ref:
        console.print(f"saved in the run as #{pid} ({ref[0]}:{pid}); `lion-search export "
                      f"{args.program} -o FILE.py` exports it")
    if args.output:
        Path(args.output).write_text(str(report.after))
        console.print(f"wrote {args.output}")


def cmd_report(args: argparse.Namespace) -> None:
    """Write a run's HTML report and plots."""
    from lion_search.hall_of_fame import write_hall_of_fame
    from lion_search.report import write_report
    from lion_search.store import RunStore, resolve_run

    store = RunStore.open(resolve_run(args.run))
    try:
        with console.status("plotting"):
            write_hall_of_fame(store)
            path = write_report(store)
    finally:
        store.close()
    console.print(f"wrote {path} (open it in a browser) and its plots in {path.parent}")


def cmd_runs(args: argparse.Namespace) -> None:
    """List run folders."""
    from lion_search.runs import list_runs, runs_json, runs_table

    infos = list_runs(args.root)
    if args.json:
        print(json.dumps(runs_json(infos), indent=2))
    elif not infos:
        console.print(f"no runs in {args.root}")
    else:
        console.print(runs_table(infos))


def cmd_salvage(args: argparse.Namespace) -> None:
    """Recover what is readable of a damaged journal (lion_search/salvage.py)."""
    from lion_search.salvage import salvage
    from lion_search.store import resolve_run

    console.print(salvage(resolve_run(args.run), args.out, args.force).summary(), markup=False)


# ----------------------------------------------------------------------------------- funnel

def cmd_funnel(args: argparse.Namespace) -> None:
    """Re-test a run's best programs on larger tasks against tuned baselines."""
    from lion_search.funnel import DEFAULT_STAGES, run_funnel
    from lion_search.simplify import rewrite
    from lion_search.store import RunStore, resolve_run

    store = RunStore.open(resolve_run(args.run))
    try:
        with console.status("funnel") as status:
            record = run_funnel(store, args.top, args.stages or DEFAULT_STAGES,
                                prepare=lambda p: rewrite(p)[0], progress=status.update)
    finally:
        store.close()
    for candidate in record["candidates"]:
        console.print(f"{candidate['name']} (#{candidate['id']}):")
        console.print(candidate["program"], end="", markup=False)
        _warn(candidate["lr_warning"])
    for stage in record["stages"]:
        console.print(funnel_table(stage))
    for winner in record["winners"]:
        console.print(f"winner {winner['name']} (#{winner['id']}, passed stage {winner['stage']}):"
                      f" {Path(record['run']) / winner['path']}")
    if not record["winners"]:
        console.print("no candidate passed the second stage")
    console.print(f"wrote {Path(record['run']) / 'funnel.json'}")


def funnel_table(stage: dict) -> Table:
    """One stage as a table: every optimizer's loss (mean over seeds +- spread) and lr per task."""
    table = Table(title=f"stage {stage['name']} ({stage['rule']}; seeds "
                        f"{','.join(map(str, stage['seeds']))})")
    table.add_column("optimizer")
    for task in stage["tasks"]:
        table.add_column(f"{task}\nval loss (lr)", justify="right")
    table.add_column("passed", justify="center")
    rows = [(b["name"], b["results"], "baseline") for b in stage["baselines"]]
    rows += [(c["name"], c["results"], "yes" if c["passed"] else "no") for c in stage["candidates"]]
    for name, results, passed in rows:
        cells = []
        for task in stage["tasks"]:
            r = results[task]
            cells.append("failed" if r["fitness"] is None else
                         f"{r['fitness']:.4g} ±{r['spread']:.2g} ({r['lr']:.2g})")
        table.add_row(name, *cells, passed)
    return table


# ----------------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="lion-search", description="Discover optimizers by evolving symbolic programs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=fn)
        return p

    p = add("evolve", cmd_evolve, "run a search: regularized evolution of optimizer programs")
    p.add_argument("--budget", type=int, help="trained evaluations to run (cache hits are free; "
                                              "default 2000)")
    p.add_argument("--population", type=int, help="population size P (default 100)")
    p.add_argument("--tournament", type=int, help="tournament size T (default 2)")
    p.add_argument("--task", help="proxy task, tasks joined by commas (digits-mlp,text-lm) or a "
                                  "portfolio name (default digits; see `lion-search tasks`): over "
                                  "several tasks, fitness is the mean log ratio of the loss to "
                                  "tuned AdamW's")
    p.add_argument("--schedule", help="lr schedule shape (default warmup_cosine)")
    p.add_argument("--seeds", type=_ints, help="training seeds per evaluation, e.g. 0,1 (default 0)")
    p.add_argument("--seed-programs", type=_names, help="seed programs to start from (default adamw)")
    p.add_argument("--workers", type=int, help="workers training at once (default: one per core): "
                                               "threads of this process, which share its "
                                               "compiled loops; Ray actors with --address")
    p.add_argument("--address", help="run the workers as Ray actors: join an existing Ray "
                                     "cluster (or set RAY_ADDRESS), or 'local' to start Ray on "
                                     "this machine")
    p.add_argument("--gpus-per-worker", type=float, help="GPUs per Ray worker (1: one JAX process "
                   "per GPU); such workers train --population-batch programs at once with the "
                   "population trainer")
    p.add_argument("--population-batch", type=int, help="programs a GPU worker trains at once "
                   "(default 0: as many as half its GPU's memory holds, at most 4096)")
    p.add_argument("--batch-size", type=int, help="candidates sent to a worker at once (default 8)")
    p.add_argument("--max-length", type=int, help="instruction limit L (default 32)")
    p.add_argument("--max-memory", type=int, help="memory-slot limit (default 4)")
    p.add_argument("--mutation-weights", help="e.g. insert=1,delete=1,change_arg=1,change_op=1,"
                                              "perturb_constant=1,swap=0.5,add_slot=0.5,"
                                              "remove_slot=0.25 (the defaults)")
    p.add_argument("--hurdle", type=float, help="cut candidates whose loss at 25%% of training is "
                                                "this many times the seed's (default 2; 0 = off)")
    p.add_argument("--restart-every", type=int, help="restart the population every N evaluations")
    p.add_argument("--restart-from", choices=("best", "seeds"), help="what a restart starts from")
    p.add_argument("--rng-seed", type=int, help="random seed of the search (default 0)")
    p.add_argument("--metaval-every", type=int, help="meta-validate the best program every N "
                                                     "evaluations (default: 10%% of the budget, "
                                                     "at most 1000)")
    p.add_argument("--metaval-task", help="held-out larger task for meta-validation (default: "
                                          "the proxy family's 10x task; 'none' turns it off)")
    p.add_argument("--allow-lr-free", action="store_true", help="keep children whose update does "
                                                                "not grow with lr (rejected by default)")
    p.add_argument("--promote-every", type=int, help="promote the best distinct programs to "
                                                     "larger tasks every N evaluations (default: "
                                                     "5%% of the budget, at most 1000; 0 = off)")
    p.add_argument("--promote-top", type=int, help="programs per promotion round (default 3)")
    p.add_argument("--promote-share", type=float,
                   help="the most of the workers' training time promotion may take: a round "
                        "is skipped while promotion has used more (default 0.25)")
    p.add_argument("--promote-tasks", help="promotion tasks, joined by commas (default: the "
                                           "funnel's stage B)")
    p.add_argument("--promoted-seed", choices=("join", "off"),
                   help="join (default): a program that beats every promoted program so far "
                        "joins the population again as its youngest member; off: it does not")
    p.add_argument("--out", help="run folder (default runs/<timestamp>; runs/latest links to it)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--force", action="store_true", help="overwrite an existing run folder")
    p.add_argument("--time-limit", type=float, help="stop cleanly after this many seconds")

    p = add("show", cmd_show, "show a run (folder), one of its programs (RUN:ID, RUN:best), "
                              "or a program (seed name or file)")
    p.add_argument("target", nargs="?", default="runs/latest", help="default: runs/latest")
    p.add_argument("--top", type=int, default=10, help="programs in the table (default 10)")
    p.add_argument("--lineage", metavar="ID|best", help="the chain of mutations from the seed "
                                                         "to this program of the run")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = add("simplify", cmd_simplify, "simplify a program: remove dead code, apply rewrite rules, "
                                      "then ablate instructions and constants on the proxy")
    p.add_argument("program", help="RUN:ID, RUN:best, a program file or a seed name")
    p.add_argument("-o", "--output", help="write the simplified program to this file")
    p.add_argument("--task", help="proxy task for ablating a program that is not a run's "
                                  "(default digits-mlp; a run's program is scored as its run "
                                  "scores, on the run's tasks and seeds)")
    p.add_argument("--tolerance", type=float, default=0.01,
                   help="keep an ablation when fitness worsens by at most this fraction of it, "
                        "or by this much for a portfolio's log-ratio fitness (0.01)")
    p.add_argument("--no-ablation", action="store_true", help="only exact simplifications")

    p = add("report", cmd_report, "write RUN/report.html with plots (fitness, meta-validation, "
                                  "Pareto front, throughput, funnel)")
    p.add_argument("run", nargs="?", default="runs/latest", help="run folder (default runs/latest)")

    p = add("runs", cmd_runs, "list the run folders with budget, progress, best and state")
    p.add_argument("root", nargs="?", default="runs", help="folder holding runs (default runs)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = add("salvage", cmd_salvage, "copy the readable programs and evaluations of a damaged "
                                    "run journal into a new run folder, to show or resume")
    p.add_argument("run", help="the run folder whose journal is damaged")
    p.add_argument("-o", "--out", help="the new run folder (default RUN-salvaged)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out folder")

    p = add("export", cmd_export, "write a program as a standalone optax (or torch) module")
    p.add_argument("program", help="a seed name, a program file, or RUN:ID / RUN:best")
    p.add_argument("-o", "--output", required=True, help="the module to write, a .py file")
    p.add_argument("--framework", choices=("optax", "torch"), default="optax",
                   help="optax (default: needs jax and optax) or torch (a torch.optim.Optimizer "
                        "subclass named after the program: needs only torch)")
    p.add_argument("--raw", action="store_true", help="a run's program as the search journaled "
                                                      "it (default: its simplified form)")

    p = add("funnel", cmd_funnel, "re-test a run's best programs on 10x and 100x larger tasks "
                                  "against tuned baselines; export the winners")
    p.add_argument("run", nargs="?", default="runs/latest", help="run folder (default runs/latest)")
    p.add_argument("--top", type=int, default=5, help="programs entering the first stage (default 5)")
    p.add_argument("--stages", help="stage file (default proxy_tasks/funnel.json)")

    add("programs", cmd_programs, "list the seed programs with their memory cost")
    add("tasks", cmd_tasks, "list the proxy tasks with their size and cost")

    p = add("eval", cmd_eval, "train a program and baselines with swept learning rates; compare")
    p.add_argument("program", help="a seed name, a program file, or RUN:ID")
    p.add_argument("--vs", type=_names, default=("adamw", "lion"), help="baselines (default adamw,lion)")
    p.add_argument("--task", default="digits-mlp", help="proxy task (default digits-mlp)")
    p.add_argument("--schedule", default="warmup_cosine", help="lr schedule shape")
    p.add_argument("--steps", type=int, help="training steps (default: the task's own; the "
                                             "schedule is stretched to fit)")
    p.add_argument("--batch", type=int, help="training batch size (default: the task's own; "
                                             "digits and text-lm families)")
    p.add_argument("--seeds", type=_ints, default=(0, 1), help="training seeds (default 0,1)")
    p.add_argument("--grid", help="comma-separated lr scales (default 1e-4..1, 9 points)")
    p.add_argument("--plot", help=f"PNG of the loss curves (default "
                                  f"{EVAL_PLOTS}/PROGRAM-TASK.png)")
    p.add_argument("--lr-plot", help=f"PNG of the final validation loss against the lr, one "
                                     f"line per optimizer (default {EVAL_PLOTS}/PROGRAM-TASK-lr.png)")
    p.add_argument("--markdown", action="store_true", help="also print a markdown table")

    p = add("bench", cmd_bench, "candidates/s of the interpreter, batched interpreter and per-program jit")
    p.add_argument("--task", default="digits-mlp")
    p.add_argument("--candidates", type=int, default=60, help="programs for the interpreter")
    p.add_argument("--jitted", type=int, default=6, help="programs for per-program jit")
    p.add_argument("--batch-size", type=int, default=8, help="batch of the batched interpreter")
    p.add_argument("--startup", action="store_true", help="instead, time whole evolve commands: "
                   "seconds to the first trained evaluation, the default workers against one "
                   "at budget 1000, two against one at budget 2000 (about ten minutes)")
    p.add_argument("--population", metavar="P,P,...", help="instead, the batched interpreter "
                   "against the population trainer at these population sizes, e.g. 16,64")
    p.add_argument("--out", default="runs/bench-startup", help="where --startup writes its runs "
                                                               "(default runs/bench-startup)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run one command; errors print as one line and exit with status 2."""
    from lion_search.workers import SINGLE_THREAD_XLA

    # One core per training process, as the Ray workers run (set before JAX starts its backend).
    os.environ.setdefault("XLA_FLAGS", SINGLE_THREAD_XLA)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except LionSearchError as err:
        print(f"lion-search: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lion-search: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        sys.stdout = open(os.devnull, "w")
        return 1


if __name__ == "__main__":
    sys.exit(main())
