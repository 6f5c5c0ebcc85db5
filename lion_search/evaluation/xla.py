"""The XLA environment of a training process: no intra-op threads (`SINGLE_THREAD_XLA`), XLA's
CPU thread pool sized to the threads that train (`size_thread_pool`), computations dispatched
synchronously (`dispatch_synchronously`), JAX's persistent compilation cache, keeping JAX on
the CPU, and counting GPUs without starting JAX."""
from __future__ import annotations

import glob
import importlib.util
import os
from pathlib import Path

# No intra-op threads: a training runs on one thread of XLA's pool (sized by size_thread_pool).
SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false"

# XLA's CPU client runs every computation on a thread pool of its own, of one thread per core
# unless this variable names another size; it reads it once, when JAX starts its backend.
THREAD_POOL_SIZE = "NPROC"
# The size lion-search set, inherited with it by the commands it starts, which size their own.
SIZED_HERE = "LION_SEARCH_XLA_THREADS"


COMPILATION_CACHE = Path.home() / ".cache" / "lion-search" / "jax"


def size_thread_pool(threads: int) -> None:
    """Size XLA's CPU thread pool to the `threads` that train at once in this process (unless
    the user set THREAD_POOL_SIZE), before JAX starts its backend; later it changes nothing.
    A pool larger than the computations in flight spends its spare threads handing work about
    and spinning: one training thread on the 2-core machine's default pool of 2 took 1.2x the
    wall time and 1.7x the CPU that it took on a pool of 1 (BENCHMARKS.md, section 18.6)."""
    if not pool_size_chosen_by_user():
        os.environ[THREAD_POOL_SIZE] = os.environ[SIZED_HERE] = str(max(1, threads))


def dispatch_synchronously() -> None:
    """Turn JAX's asynchronous CPU dispatch off (before JAX starts its backend): a call then
    runs its computation before it returns instead of queueing it. The search thread's probes
    (a child's fingerprint, its lr check) no longer wait behind the workers' trainings: 100
    fingerprints beside one training on a pool of one took 6.8 s queued and 0.11 s this way,
    and the trainings ran as fast as before (BENCHMARKS.md, section 18.7)."""
    import jax

    jax.config.update("jax_cpu_enable_async_dispatch", False)


def pool_size_chosen_by_user() -> bool:
    """Whether THREAD_POOL_SIZE was set by the user rather than by `size_thread_pool`."""
    return os.environ.get(THREAD_POOL_SIZE) not in (None, os.environ.get(SIZED_HERE))


def visible_gpus() -> int:
    """How many GPUs JAX could train on here, found without starting JAX (a JAX started in
    the search process takes most of a GPU's memory): 0 unless JAX's CUDA plugin is installed
    and JAX_PLATFORMS allows CUDA; then the devices CUDA_VISIBLE_DEVICES names, or else the
    NVIDIA device files."""
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if platforms and not {"cuda", "gpu"} & set(platforms.split(",")):
        return 0
    if not any(importlib.util.find_spec(name) is not None
               for name in ("jax_cuda12_plugin", "jax_cuda13_plugin")):
        return 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() not in ("", "-1")])
    return len(glob.glob("/dev/nvidia[0-9]*"))


def keep_on_cpu() -> None:
    """Run this process's own JAX work (the search's probes) on the CPU, so that GPU workers,
    one JAX process per GPU, have their GPU's memory to themselves."""
    import jax

    jax.config.update("jax_platforms", "cpu")


def use_compilation_cache(folder: Path = COMPILATION_CACHE) -> None:
    """Keep this process's compiled programs in JAX's persistent cache under `folder` (unless
    the user chose a cache), so that a later run loads its training loops instead of
    compiling them again."""
    import jax

    if jax.config.jax_compilation_cache_dir is None:
        jax.config.update("jax_compilation_cache_dir", str(folder))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
