"""Workers that train candidates: threads of this process, or Ray actors; both keep their
compiled loops warm.

Both pools take jobs (an id, the program text and how to score it) and hand back results in
completion order. They start at once: the workers compile the training loops (`warm_up`) while
the first jobs queue, and `starting()` says what the pool is still waiting for. A Ray actor
that dies is replaced and its jobs are queued again, so nothing is lost.
"""
from __future__ import annotations

import collections
import glob
import importlib.util
import itertools
import logging
import math
import os
import socket
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from lion_search.errors import LionSearchError
from lion_search.language import parse_program

# Each worker process trains on one core: XLA's own thread pool would only fight the others.
SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


COMPILATION_CACHE = Path.home() / ".cache" / "lion-search" / "jax"
STARTING, COMPILING = "starting workers", "compiling"   # what a pool can be waiting for
FIT_TO_MEMORY = -1       # EvalSpec.population: a population batch sized from device memory


class Scoring(NamedTuple):
    """How a job is trained and scored: its tasks, in order (a candidate that diverges or is
    cut on one is not trained on the next), each task's hurdle loss (inf: none), and with
    several tasks each one's reference loss (fitness is then the mean log ratio to them)."""

    tasks: tuple[str, ...]
    hurdles: tuple[float, ...]
    references: tuple[float, ...] | None = None


class Job(NamedTuple):
    """A program to train: an id chosen by the sender (the search's is the journal id), the
    program's text, and how to score it."""

    id: int
    text: str
    scoring: Scoring


class Done(NamedTuple):
    """A finished job, with its result on each task trained (fitness.EvalResult)."""

    id: int
    fitness: float
    status: str
    seconds: float
    worker: str
    per_task: tuple = ()


@dataclass(frozen=True)
class EvalSpec:
    """What every worker shares: the tasks it compiles for at start (a job may name others),
    the lr schedule, the training seeds, and whether it trains batches at once: vmapped
    (`batched`), or as populations of `population` programs (the population trainer;
    FIT_TO_MEMORY: as many as its device's memory holds, see `population.fit_population`)."""

    tasks: tuple[str, ...]
    schedule: str
    seeds: tuple[int, ...]
    batched: bool = False
    population: int = 0


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


def train_jobs(jobs: Sequence[Job], spec: EvalSpec, worker: str) -> list[Done]:
    """Train jobs in order, each as its scoring says (the compiled loops are shared by every
    call in the process)."""
    from lion_search.portfolio import PortfolioEvaluator

    done: list[Done] = []
    for scoring, group in itertools.groupby(jobs, key=lambda job: job.scoring):
        group = list(group)
        evaluator = PortfolioEvaluator(scoring.tasks, spec.schedule, spec.seeds,
                                       scoring.references, batched=spec.batched,
                                       population=spec.population)
        results = evaluator.evaluate_many([parse_program(job.text) for job in group],
                                          scoring.hurdles)
        done += [Done(job.id, r.fitness, r.status, r.seconds, worker, r.per_task)
                 for job, r in zip(group, results)]
    return done


def warm_up(spec: EvalSpec, texts: Sequence[str], tasks: Sequence[str]) -> None:
    """Compile the training loops that the programs' sizes need on each of `tasks`: each
    program is trained up to the first hurdle check (a quarter of training), at a hurdle that
    every run fails."""
    from lion_search.interpret import size_for

    by_size = {size_for(parse_program(text)): text for text in texts}
    train_jobs([Job(-1, text, Scoring((task,), (-math.inf,))) for task in tasks
                for text in by_size.values()], spec, "warm-up")


class InProcessPool:
    """Trains jobs on `threads` threads of this process, which share one compiled loop per
    task and size (JAX lets go of the GIL while it trains); results in completion order.
    At start the threads compile the spec's tasks for the `warm` programs, the tasks split
    among them; a job waits until its tasks are compiled."""

    def __init__(self, spec: EvalSpec, threads: int = 1, batch_size: int = 4,
                 warm: Sequence[str] = ()):
        use_compilation_cache()
        self.spec = spec
        self.threads = threads
        self.batch_size = batch_size
        self.capacity = 2 * batch_size * threads
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="lion-search-worker")
        self.warming: dict[str, Future] = {}
        if warm:
            for i in range(min(threads, len(spec.tasks))):
                tasks = spec.tasks[i::threads]
                future = self.executor.submit(warm_up, spec, warm, tasks)
                self.warming.update({task: future for task in tasks})
        self.queue: collections.deque[Job] = collections.deque()
        self.running: dict[Future, list[Job]] = {}
        self.worker = f"local:{os.getpid()}"

    @property
    def in_flight(self) -> int:
        return len(self.queue) + sum(len(jobs) for jobs in self.running.values())

    def starting(self) -> str | None:
        """COMPILING while a thread compiles at start; None once all have."""
        return COMPILING if any(not f.done() for f in self.warming.values()) else None

    def _compiled(self, job: Job) -> bool:
        return all(self.warming[t].done() for t in job.scoring.tasks if t in self.warming)

    def submit(self, jobs: Sequence[Job]) -> None:
        self.queue.extend(jobs)
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand out batches of compiled jobs, at most two per thread."""
        while len(self.running) < 2 * self.threads:
            ready = [job for job in self.queue if self._compiled(job)][:self.batch_size]
            if not ready:
                return
            for job in ready:
                self.queue.remove(job)
            self.running[self.executor.submit(train_jobs, ready, self.spec, self.worker)] = ready

    def wait(self, timeout: float | None = None) -> list[Done]:
        """Results of the batches that finish first (blocks up to `timeout` seconds)."""
        self._dispatch()
        pending = list(self.running) or [f for f in self.warming.values() if not f.done()]
        if not pending:
            return []
        finished, _ = wait_futures(pending, timeout, FIRST_COMPLETED)
        done: list[Done] = []
        for future in finished:
            if self.running.pop(future, None) is not None:
                done.extend(future.result())
        self._dispatch()
        return done

    def close(self) -> None:
        self.queue.clear()
        self.running.clear()
        self.executor.shutdown(wait=False, cancel_futures=True)


def _normal_priority() -> None:
    """Undo the niceness Ray gives its workers (where allowed): a worker at nice 15 loses the
    CPU to the search process on a small machine, and training is the work that matters."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    except OSError:
        pass


class _Actor:
    """The Ray actor: compiles its training loops once (`warm`) and trains the batches it is
    sent."""

    def __init__(self, spec: EvalSpec):
        _normal_priority()
        use_compilation_cache()
        self.spec = spec
        self.name = f"ray:{socket.gethostname()}:{os.getpid()}"

    def pid(self) -> int:
        return os.getpid()

    def population(self) -> int:
        """The programs this actor trains at once (0: one at a time); fitted to its device's
        memory on the spec's first task, once, where the spec asks for that."""
        if self.spec.population == FIT_TO_MEMORY:
            from lion_search.population import population_for_device
            from lion_search.tasks import get_task

            task = get_task(self.spec.tasks[0], self.spec.schedule)
            self.spec = replace(self.spec, population=population_for_device(task))
        return self.spec.population

    def warm(self, texts: list[str]) -> None:
        self.population()
        warm_up(self.spec, texts, self.spec.tasks)

    def train(self, jobs: list[Job]) -> list[Done]:
        self.population()
        return train_jobs(jobs, self.spec, self.name)


def check_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast, in one line, when a Ray cluster address cannot be reached ("auto" finds a
    cluster on this machine, "local" starts a new one)."""
    if address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as err:
        raise LionSearchError(f"cannot reach the Ray cluster at {address!r} ({err}); start one "
                              "with `ray start --head` or drop --address to run locally") from None


def start_ray(ray: Any, **init: Any) -> None:
    """`ray.init(**init)` without three messages that every user saw and none needs to: Ray's
    notice that a local cluster uses token authentication (its default, which stays), its
    notice that it sets no SIGTERM handler when started from a thread other than the main one
    (the search starts it in the background; their loggers are quieted during start-up), and
    the RuntimeWarning Python gives when Ray forks its processes after JAX started threads
    (Ray's fork is followed at once by exec, so it cannot deadlock)."""
    loggers = [logging.getLogger(name) for name in ("ray._private.authentication",
                                                    "ray._private.worker")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called",
                                    category=RuntimeWarning)
            ray.init(**init)
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


class RayPool:
    """One Ray actor per worker, each with up to two batches in flight; results come back in
    completion order (`ray.wait`). Each actor first compiles the spec's tasks for the `warm`
    programs, while the first batches queue behind it. A dead actor is replaced and its
    batches are queued again. With a spec that fits its population to memory, a batch is
    what the first actor found it can train at once (nothing is sent before it answers)."""

    def __init__(self, spec: EvalSpec, workers: int, batch_size: int = 4,
                 address: str | None = None, gpus_per_worker: float = 0.0,
                 warm: Sequence[str] = ()):
        import ray

        from lion_search.tasks import task_code_paths

        self.ray = ray
        address = address or os.environ.get("RAY_ADDRESS")
        if address:
            check_address(address)
        if not ray.is_initialized():
            env = {"XLA_FLAGS": SINGLE_THREAD_XLA}
            env.update({k: os.environ[k] for k in ("JAX_PLATFORMS",) if k in os.environ})
            runtime_env: dict = {"env_vars": env} if address in (None, "local") else {}
            # The code of the user's own tasks (MODULE:FUNCTION, file.py:FUNCTION) goes to
            # every worker with Ray's runtime environment, so that nodes need not have it.
            code = task_code_paths(spec.tasks)
            if code:
                runtime_env["py_modules"] = code
            start_ray(ray, address=address, include_dashboard=False, log_to_driver=False,
                      logging_level="ERROR", configure_logging=False,
                      runtime_env=runtime_env or None)
        self.spec = spec
        self.batch_size = batch_size
        self.workers = workers
        self.remote = ray.remote(num_cpus=1, num_gpus=gpus_per_worker, max_restarts=0)(_Actor)
        self.warm = list(warm)
        self.started: list = []    # each new actor's pid, then its warm-up (object refs)
        self.actors = [self._start_actor() for _ in range(workers)]
        # The first actor's population size, once it answers (FIT_TO_MEMORY), is the batch.
        self.fitting = self.actors[0].population.remote() \
            if spec.population == FIT_TO_MEMORY else None
        self.queue: collections.deque[Job] = collections.deque()
        self.running: dict = {}  # object ref -> (actor index, jobs)
        self.replaced = 0

    def _start_actor(self):
        """A new actor, asked for its pid (the answer comes once it runs) and to compile."""
        actor = self.remote.remote(self.spec)
        self.started.append((actor.pid.remote(), actor.warm.remote(self.warm) if self.warm
                             else None))
        return actor

    def starting(self) -> str | None:
        """What the newest actors are doing before they can train: STARTING until each runs,
        then COMPILING until each has compiled; None once all are ready."""
        for phase, refs in ((STARTING, [p for p, _ in self.started]),
                            (COMPILING, [w for _, w in self.started if w is not None])):
            if refs and len(self.ray.wait(refs, num_returns=len(refs), timeout=0)[0]) < len(refs):
                return phase
        self.started = []
        return None

    @property
    def in_flight(self) -> int:
        return len(self.queue) + sum(len(jobs) for _, jobs in self.running.values())

    @property
    def capacity(self) -> int:
        """Jobs worth keeping in flight: two batches per actor."""
        return 2 * self.batch_size * self.workers

    def submit(self, jobs: Sequence[Job]) -> None:
        self.queue.extend(jobs)
        self._dispatch()

    def _dispatch(self) -> None:
        if self.fitting is not None:
            if not self.ray.wait([self.fitting], timeout=0)[0]:
                return
            self.batch_size, self.fitting = self.ray.get(self.fitting), None
        load = collections.Counter(index for index, _ in self.running.values())
        for index, actor in enumerate(self.actors):
            while self.queue and load[index] < 2:
                jobs = [self.queue.popleft() for _ in range(min(self.batch_size, len(self.queue)))]
                self.running[actor.train.remote(jobs)] = (index, jobs)
                load[index] += 1

    def wait(self, timeout: float | None = None) -> list[Done]:
        """Results of the batches that finish first (blocks until at least one does)."""
        if not self.running:
            self._dispatch()
        if not self.running:
            if self.fitting is not None:    # nothing goes out before the batch size is known
                self.ray.wait([self.fitting], timeout=timeout)
            return []
        ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=timeout)
        done: list[Done] = []
        for ref in ready:
            index, jobs = self.running.pop(ref)
            try:
                done.extend(self.ray.get(ref))
            except self.ray.exceptions.RayActorError:
                self._replace(index)
                self.queue.extendleft(reversed(jobs))
        self._dispatch()
        return done

    def _replace(self, index: int) -> None:
        """Start a new actor in place of a dead one; its other batches are queued again."""
        for ref, (i, jobs) in list(self.running.items()):
            if i == index:
                del self.running[ref]
                self.queue.extendleft(reversed(jobs))
        self.actors[index] = self._start_actor()
        self.replaced += 1

    def pids(self) -> list[int]:
        return self.ray.get([actor.pid.remote() for actor in self.actors])

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        self.running.clear()
