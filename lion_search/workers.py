"""Workers that train candidates: in-process, or Ray actors that keep their compiled loops warm.

Both pools take jobs (a journal id and the program text) and hand back results in completion
order. A Ray actor that dies is replaced and its jobs are queued again, so nothing is lost.
"""
from __future__ import annotations

import collections
import math
import os
import socket
from dataclasses import dataclass
from typing import NamedTuple, Sequence

from lion_search.errors import LionSearchError
from lion_search.language import parse_program

# Each worker process trains on one core: XLA's own thread pool would only fight the others.
SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


class Job(NamedTuple):
    """A program to train: its journal id and its text."""

    id: int
    text: str


class Done(NamedTuple):
    """A finished job."""

    id: int
    fitness: float
    status: str
    seconds: float
    worker: str


@dataclass(frozen=True)
class EvalSpec:
    """What every worker needs to build its evaluator: the tasks (one, or a portfolio), the
    reference loss of each task of a portfolio, and each task's hurdle."""

    tasks: tuple[str, ...]
    schedule: str
    seeds: tuple[int, ...]
    hurdles: tuple[float, ...] = (math.inf,)
    references: tuple[float, ...] | None = None
    batched: bool = False


def train_jobs(evaluator, jobs: Sequence[Job], hurdles: Sequence[float], worker: str) -> list[Done]:
    """Train a batch of jobs with `evaluator` (a portfolio.PortfolioEvaluator)."""
    results = evaluator.evaluate_many([parse_program(job.text) for job in jobs], hurdles)
    return [Done(job.id, r.fitness, r.status, r.seconds, worker) for job, r in zip(jobs, results)]


def _evaluator(spec: EvalSpec):
    """Every task of the spec, compiled once per worker on first use."""
    from lion_search.portfolio import PortfolioEvaluator
    return PortfolioEvaluator(spec.tasks, spec.schedule, spec.seeds, spec.references,
                              batched=spec.batched)


class InProcessPool:
    """Trains jobs in this process, one batch per `wait`."""

    def __init__(self, spec: EvalSpec, batch_size: int = 4):
        self.spec = spec
        self.evaluator = _evaluator(spec)
        self.batch_size = batch_size
        self.capacity = batch_size
        self.queue: collections.deque[Job] = collections.deque()

    @property
    def in_flight(self) -> int:
        return len(self.queue)

    def submit(self, jobs: Sequence[Job]) -> None:
        self.queue.extend(jobs)

    def wait(self, timeout: float | None = None) -> list[Done]:
        batch = [self.queue.popleft() for _ in range(min(self.batch_size, len(self.queue)))]
        return train_jobs(self.evaluator, batch, self.spec.hurdles, f"local:{os.getpid()}")

    def close(self) -> None:
        self.queue.clear()


def _normal_priority() -> None:
    """Undo the niceness Ray gives its workers (where allowed): a worker at nice 15 loses the
    CPU to the search process on a small machine, and training is the work that matters."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    except OSError:
        pass


class _Actor:
    """The Ray actor: builds its evaluator once and trains the batches it is sent."""

    def __init__(self, spec: EvalSpec):
        _normal_priority()
        self.spec = spec
        self.evaluator = _evaluator(spec)
        self.name = f"ray:{socket.gethostname()}:{os.getpid()}"

    def pid(self) -> int:
        return os.getpid()

    def train(self, jobs: list[Job]) -> list[Done]:
        return train_jobs(self.evaluator, jobs, self.spec.hurdles, self.name)


def check_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast, in one line, when a Ray cluster address cannot be reached."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as err:
        raise LionSearchError(f"cannot reach the Ray cluster at {address!r} ({err}); start one "
                              "with `ray start --head` or drop --address to run locally") from None


class RayPool:
    """One Ray actor per worker, each with up to two batches in flight; results come back in
    completion order (`ray.wait`). A dead actor is replaced and its batches are queued again."""

    def __init__(self, spec: EvalSpec, workers: int, batch_size: int = 4,
                 address: str | None = None, gpus_per_worker: float = 0.0):
        import ray

        self.ray = ray
        address = address or os.environ.get("RAY_ADDRESS")
        if address:
            check_address(address)
        if not ray.is_initialized():
            env = {"XLA_FLAGS": SINGLE_THREAD_XLA}
            env.update({k: os.environ[k] for k in ("JAX_PLATFORMS",) if k in os.environ})
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level="ERROR", configure_logging=False,
                     runtime_env=None if address else {"env_vars": env})
        self.spec = spec if not gpus_per_worker else EvalSpec(**{**spec.__dict__, "batched": True})
        self.batch_size = batch_size
        self.capacity = 2 * batch_size * workers
        self.remote = ray.remote(num_cpus=1, num_gpus=gpus_per_worker, max_restarts=0)(_Actor)
        self.actors = [self.remote.remote(self.spec) for _ in range(workers)]
        self.queue: collections.deque[Job] = collections.deque()
        self.running: dict = {}  # object ref -> (actor index, jobs)
        self.replaced = 0

    @property
    def in_flight(self) -> int:
        return len(self.queue) + sum(len(jobs) for _, jobs in self.running.values())

    def submit(self, jobs: Sequence[Job]) -> None:
        self.queue.extend(jobs)
        self._dispatch()

    def _dispatch(self) -> None:
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
        self.actors[index] = self.remote.remote(self.spec)
        self.replaced += 1

    def pids(self) -> list[int]:
        return self.ray.get([actor.pid.remote() for actor in self.actors])

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        self.running.clear()
