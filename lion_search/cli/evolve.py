"""`evolve`: run or resume a search with a live view, and print what it found. It holds the
run's writer lock throughout (a second writer stops at once); Ctrl-C or SIGTERM stops it cleanly
and resumably, and so does a full disk; GPU workers are chosen where JAX sees GPUs."""
from __future__ import annotations

import argparse
import contextlib
import errno
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from rich.table import Table

from lion_search.cli.display import console, fitness_text, seeds_text, verdict_lines, warn
from lion_search.language.errors import LionSearchError

if TYPE_CHECKING:
    from lion_search.runs.journal import RunStore
    from lion_search.search.config import EvolveConfig


def _config_from_args(args: argparse.Namespace) -> dict:
    """The EvolveConfig fields given on the command line."""
    from lion_search.search.mutate import MutationWeights

    fields = {k: getattr(args, k) for k in (
        "task", "schedule", "seeds", "budget", "population", "tournament", "seed_programs",
        "max_length", "max_memory", "restart_every", "restart_from", "restart_plateau",
        "islands", "migrate_every", "remutations", "equivalence", "hurdle", "workers",
        "batch_size", "address", "gpus_per_worker", "population_batch", "rng_seed",
        "metaval_every", "metaval_task", "promote_every", "promote_top", "promote_share",
        "promote_tasks", "promote_score", "promoted_seed", "promote_trials", "seed_pool",
        "prior_seeds", "fitness_seeds", "rotate_every", "max_seeds",
        "confirm_top", "confirm_seeds", "promote_seeds", "held_back_seeds", "held_back_top",
        "deterministic", "generation", "screen_tasks", "screen_top")
        if getattr(args, k) is not None}
    if args.reevaluate_parents is not None:
        fields["reevaluate_parents"] = args.reevaluate_parents == "on"
    if args.reproduce is not None:
        fields["reproduce"] = args.reproduce == "on"
    if args.own_spread is not None:
        fields["own_spread"] = args.own_spread == "on"
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


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)   # Ctrl-C; `kill`, `timeout` and schedulers


@contextlib.contextmanager
def _stop_on_interrupt() -> Iterator[threading.Event]:
    """While open, the first Ctrl-C or SIGTERM only sets the event (the search loop polls it
    after journaling each batch of results) and a second one raises KeyboardInterrupt.

    Not raising at once matters: Python drops an exception raised inside a garbage-collector
    callback (JAX registers one), printing its traceback, so a raised Ctrl-C could be lost.
    """
    requested = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield requested
    finally:
        for sig, action in previous.items():
            signal.signal(sig, action)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """While open, SIGTERM raises KeyboardInterrupt as Ctrl-C does, so that a search stopped
    while it starts up is also left "interrupted", with the resume hint."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def with_gpu_workers(fields: dict) -> dict:
    """The search's settings with GPU workers where JAX sees GPUs and the user chose no
    --gpus-per-worker: a Ray actor per GPU (or --workers of them) training populations."""
    from lion_search.evaluation.xla import visible_gpus

    gpus = visible_gpus() if "gpus_per_worker" not in fields else 0
    if not gpus:
        return fields
    console.print(f"{gpus} GPU(s) found: one worker per GPU trains populations of programs "
                  "(--gpus-per-worker 0 trains on the CPU instead)")
    return {"gpus_per_worker": 1.0, "workers": gpus, **fields}


def cmd_evolve(args: argparse.Namespace) -> int:
    """Run (or resume) a search, with a live view, holding the run's writer lock (taken before
    anything heavy is imported, so that a second writer is refused at once)."""
    from lion_search.runs.journal import new_run_folder, resolve_run
    from lion_search.runs.lock import hold

    if args.time_limit is not None and args.time_limit <= 0:
        raise LionSearchError(f"--time-limit must be a positive number of seconds, got {args.time_limit}")
    if args.cpu_limit is not None and not args.cpu_limit > 0:
        raise LionSearchError(f"--cpu-limit must be a positive number of seconds, got "
                              f"{args.cpu_limit}")
    if args.resume and not args.out:
        raise LionSearchError("--resume needs --out RUN_FOLDER (the run to continue)")
    folder = resolve_run(args.out) if args.resume else \
        Path(args.out) if args.out else new_run_folder()
    with contextlib.ExitStack() as writer:
        # A run to resume, or one --force overwrites, is locked before its journal is opened;
        # a new one as soon as its journal exists. The lock is let go after the store closes.
        lock = writer.enter_context(writer_lock(folder, "lion-search evolve"))
        opened = _open_run(args, folder)
        if opened is None:
            return 0
        if lock is None:
            try:
                writer.enter_context(hold(folder, "lion-search evolve"))
            except LionSearchError:
                opened[0].close()
                raise
        return _search(args, *opened)


def writer_lock(folder: Path, command: str) -> contextlib.AbstractContextManager:
    """The writer lock of run folder `folder` for `command` (the command line, as the refusal
    names it; runs/lock.py: RunLocked at once if
    another process holds it) when the folder holds a journal; else nothing to hold (a folder
    without one is no run yet: opening it says so, or a new run is made there)."""
    from lion_search.runs.journal import JOURNAL
    from lion_search.runs.lock import hold

    return hold(folder, command) if (folder / JOURNAL).is_file() else contextlib.nullcontext()


def _open_run(args: argparse.Namespace, folder: Path
              ) -> tuple[RunStore, EvolveConfig] | None:
    """The store and config of the run to search: the one resumed (None if its budget is
    spent), or a new one."""
    from lion_search.runs.journal import EvalKind, RunStore, link_latest
    from lion_search.search.config import EvolveConfig
    from lion_search.search.pools import set_up_xla

    fields = _config_from_args(args)
    if not args.resume:
        config = EvolveConfig(**with_gpu_workers(fields)).pinned()
        set_up_xla(config)
        config.check()
        store = RunStore.create(folder, config.to_json(), force=args.force)
        link_latest(folder)
        return store, config
    store = RunStore.open(folder, verify=True)   # whole, before appending
    try:
        overrides = {k: v for k, v in fields.items() if k in (
            "budget", "workers", "address", "batch_size", "gpus_per_worker", "population_batch")}
        config = EvolveConfig.from_json({**store.config, **overrides})
        set_up_xla(config)
        config.check()
        trained = store.count(EvalKind.SEARCH, cached=False)
        if trained >= config.budget:
            store.close()
            console.print(f"run {args.out} is finished: {trained}/{config.budget} evaluations "
                          "trained; raise --budget to continue it")
            return None
        store.set_config(config.to_json())
    except BaseException:
        store.close()
        raise
    return store, config


def _search(args: argparse.Namespace, store: RunStore, config: EvolveConfig) -> int:
    """Search until the budget is met (or the time limit, Ctrl-C, SIGTERM or a full disk stops
    it), journal the state, close the store and say what came of it."""
    from lion_search.inspect.live import LiveView
    from lion_search.language.errors import DiskFull
    from lion_search.runs.journal_sqlite import disk_full
    from lion_search.search.evolution import Search
    from lion_search.search.generations import STALL_AFTER
    from lion_search.search.pools import process_started, start_pool

    pool = start_pool(config)   # the workers start while the search sets up
    console.print(f"run folder {store.folder}: task {config.task}, budget {config.budget}, "
                  f"population {config.population}, tournament {config.tournament}, "
                  f"{config.workers} worker(s)")
    view = LiveView(console)
    search = Search(store, config, view, pool, started=process_started())
    state = "interrupted"
    try:
        with _terminate_as_interrupt():
            store.set_state("running")
            with view:
                if store.value("seeds") is None:
                    search.setup()
                search.load()
                with _stop_on_interrupt() as interrupted:
                    stats = search.run(args.time_limit, stop=interrupted.is_set,
                                       cpu_limit=args.cpu_limit)
        if not interrupted.is_set():
            state = "finished" if stats.trained >= config.budget else "stopped"
    except KeyboardInterrupt:
        pass
    except OSError as err:      # the hall of fame, or another file of the run, had no room
        if err.errno != errno.ENOSPC:
            raise
        raise disk_full(store.folder) from None
    finally:
        search.close()
        try:
            store.set_state(state)
        except DiskFull:
            if state != "interrupted":   # else the unwritten state reads "interrupted" anyway:
                raise                    # the writer lock is let go
        finally:
            store.close()
    if state == "interrupted":
        console.print(f"interrupted; resume with: lion-search evolve --out {store.folder} --resume")
        return 130
    _print_outcome(store.folder, state)
    if search.stalled:
        console.print(f"the search stopped short of its budget: its last {STALL_AFTER:,} "
                      "children were all programs it had seen (the population has converged); "
                      "--restart-every N restarts it from its best or its seeds")
    return 0


def _print_outcome(folder: Path, state: str) -> None:
    from lion_search.inspect.summary import summarize
    from lion_search.language.parser import parse_program
    from lion_search.language.shapes import format_cost
    from lion_search.runs.journal import RunStore
    from lion_search.selection.untested import untested_warning_in_run

    store = RunStore.open(folder)
    summary = summarize(store, 5)
    best = summary["best"]
    untested = best and untested_warning_in_run(
        store.config, parse_program(best["simplified"] or best["program"]))
    store.close()
    console.print(f"{state}: {summary['evaluations']} evaluations trained, "
                  f"{summary['cache_hits']} cache hits ({100 * summary['cache_hit_rate']:.0f}%)")
    if best:
        console.print(f"{folder}:best (#{best['id']}) is {best['relation']['headline']}",
                      markup=False, highlight=False)
        console.print(f"  the run's best by promoted score: {fitness_text(best['promoted'])} "
                      f"(proxy fitness {fitness_text(best['fitness'])})" if
                      best["by"] == "promoted score" else
                      f"  nothing was promoted: the best by proxy fitness "
                      f"({fitness_text(best['fitness'])})")
        warn(untested)
    for line in verdict_lines(summary):
        console.print(line)
    table = Table(title="the proxy's leaders: best programs by proxy fitness")
    for column in ("id", "fitness", "seeds", "promoted", "vs seed", "memory", "length",
                   "relation"):
        table.add_column(column, justify="right")
    for row in summary["top"]:
        table.add_row(str(row["id"]), fitness_text(row["fitness"]), seeds_text(row),
                      fitness_text(row["promoted"]) if row["was_promoted"] else "",
                      row["vs_seed"].removesuffix(" vs seed"), format_cost(row["memory"]),
                      str(row["length"]), row["relation"]["label"])
    console.print(table)
    if summary["top"]:
        best = summary["top"][0]["id"]
        console.print(f"inspect: lion-search show {folder}   |   one program: lion-search show "
                      f"{folder}:{best}\nexport:  lion-search export {folder}:best -o my_opt.py")
