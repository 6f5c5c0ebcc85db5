"""Workers as Ray actors (`RayPool`), locally or on a cluster (`--address`): each actor keeps its
compiled loops warm; an actor that dies is replaced and its jobs are queued again, so nothing
is lost."""
from __future__ import annotations

import collections
import logging
import os
import socket
import warnings
from dataclasses import replace
from typing import Any, Sequence

from lion_search.evaluation import xla
from lion_search.language.errors import LionSearchError
from lion_search.search.jobs import (
    COMPILING,
    FIT_TO_MEMORY,
    STARTING,
    Done,
    EvalSpec,
    Job,
    train_jobs,
    warm_up,
)


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
        xla.use_compilation_cache()
        self.spec = spec
        self.name = f"ray:{socket.gethostname()}:{os.getpid()}"

    def pid(self) -> int:
        return os.getpid()

    def multi_batch(self) -> int:
        """The programs this actor trains at once (0: one at a time); fitted to its device's
        memory on the spec's first task, once, where the spec asks for that."""
        if self.spec.multi_batch == FIT_TO_MEMORY:
            from lion_search.evaluation.multi_trainer import multi_batch_for_device
            from lion_search.evaluation.tasks import get_task

            task = get_task(self.spec.tasks[0], self.spec.schedule)
            self.spec = replace(self.spec, multi_batch=multi_batch_for_device(task))
        return self.spec.multi_batch

    def warm(self, texts: list[str]) -> None:
        self.multi_batch()
        warm_up(self.spec, texts, self.spec.tasks)

    def train(self, jobs: list[Job]) -> list[Done]:
        self.multi_batch()
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
    batches are queued again. With a spec that fits its multi-program batch to memory, a batch is
    what the first actor found it can train at once (nothing is sent before it answers)."""

    def __init__(self, spec: EvalSpec, workers: int, batch_size: int = 4,
                 address: str | None = None, gpus_per_worker: float = 0.0,
                 warm: Sequence[str] = ()):
        import ray

        from lion_search.evaluation.tasks import task_code_paths

        self.ray = ray
        address = address or os.environ.get("RAY_ADDRESS")
        if address:
            check_address(address)
        if not ray.is_initialized():
            # An actor trains one batch at a time, on a thread pool of one (xla.size_thread_pool).
            env = {"XLA_FLAGS": xla.SINGLE_THREAD_XLA, xla.THREAD_POOL_SIZE: "1"}
            env.update({k: os.environ[k] for k in ("JAX_PLATFORMS",) if k in os.environ})
            if xla.pool_size_chosen_by_user():
                env[xla.THREAD_POOL_SIZE] = os.environ[xla.THREAD_POOL_SIZE]
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
        # The first actor's multi-program batch, once it answers (FIT_TO_MEMORY), is the batch.
        self.fitting = self.actors[0].multi_batch.remote() \
            if spec.multi_batch == FIT_TO_MEMORY else None
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
