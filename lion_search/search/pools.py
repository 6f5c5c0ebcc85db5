"""Starting the workers: the pool (threads of this process, or Ray actors) started in a
background thread while the search sets up, the programs it compiles for at start, and when
the command's process started (start-up is timed from it)."""
from __future__ import annotations

import functools
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from lion_search.evaluation.calibrate import lr_sweep
from lion_search.evaluation import xla
from lion_search.runs.references import load_program
from lion_search.search.config import EvolveConfig
from lion_search.search.in_process import InProcessPool
from lion_search.search.jobs import FIT_TO_MEMORY, EvalSpec
from lion_search.search.ray_pool import RayPool


def process_started() -> float:
    """When this process started, on the time.time() scale (from /proc on Linux, to 10 ms;
    elsewhere: now)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rpartition(")")[2].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return time.time()
    return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))


def warm_programs(config: EvolveConfig) -> list[str]:
    """The programs whose sizes the workers compile for at start: the first program of each
    seed's calibration."""
    return [str(lr_sweep(load_program(name), config.lr_grid[:1])[0])
            for name in config.seed_programs]


def in_this_process(config: EvolveConfig) -> bool:
    """Whether the workers are threads of this process: unless they train on GPUs or Ray is
    asked for (`--address`, or RAY_ADDRESS; "local" starts Ray on this machine)."""
    return not (config.gpus_per_worker or config.address or os.environ.get("RAY_ADDRESS"))


def set_up_xla(config: EvolveConfig) -> None:
    """Where the workers are threads of this process (`in_this_process`), size XLA's thread
    pool to them (xla.size_thread_pool) and keep the search thread's probes from queueing
    behind their trainings (xla.dispatch_synchronously). Both must come before anything in
    this process starts JAX's backend (building a task does, as `EvolveConfig.check` does)."""
    if in_this_process(config):
        xla.size_thread_pool(config.workers)
        xla.dispatch_synchronously()


def make_pool(config: EvolveConfig):
    """The workers, which start compiling at once: threads of this process, or Ray actors
    (`in_this_process`)."""
    spec = EvalSpec(config.tasks, config.schedule, config.seeds)
    warm = warm_programs(config)
    if config.gpus_per_worker:   # an actor per GPU trains batches of --population-batch
        spec = EvalSpec(config.tasks, config.schedule, config.seeds,
                        multi_batch=config.population_batch or FIT_TO_MEMORY)
        # Until an actor has fitted its multi-program batch to its GPU, batches of 256 are queued.
        return RayPool(spec, config.workers, config.population_batch or 256, config.address,
                       config.gpus_per_worker, warm)
    if not in_this_process(config):
        return RayPool(spec, config.workers, config.batch_size, config.address, 0.0, warm)
    return InProcessPool(spec, config.workers, config.batch_size, warm)


@functools.cache
def _starter() -> ThreadPoolExecutor:
    """The thread that starts pools. It lives as long as the process: Ray's own processes
    are killed when the thread that started them ends (Linux's parent-death signal)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="lion-search-start")


def start_pool(config: EvolveConfig) -> Future:
    """`make_pool` in a background thread (starting Ray takes seconds), so that the caller
    sets up meanwhile; the future holds the pool. With GPU workers this process keeps its own
    JAX on the CPU."""
    if config.gpus_per_worker:
        xla.keep_on_cpu()
    xla.use_compilation_cache()
    return _starter().submit(make_pool, config)


def stop_pool(future: Future) -> None:
    """Close the pool that `future` holds once it has started (at once if it has; nothing if
    it failed to start)."""
    future.add_done_callback(lambda done: done.exception() or done.result().close())
