"""Workers as threads of this process (`InProcessPool`): each keeps its compiled loops warm and
takes jobs in batches; results come back in completion order."""
from __future__ import annotations

import collections
import math
import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Sequence

from lion_search.evaluation.xla import use_compilation_cache
from lion_search.search.jobs import COMPILING, Done, EvalSpec, Job, train_jobs, warm_up


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
        """Hand out batches of compiled jobs, at most two per thread: of `batch_size`, or
        fewer where fewer are queued, so that the last jobs before a wait (a deterministic
        generation's, a promotion round's long ones) are shared among the threads rather than
        left to one while the others idle."""
        slots = 2 * self.threads
        while len(self.running) < slots:
            ready = [job for job in self.queue if self._compiled(job)]
            ready = ready[:min(self.batch_size, math.ceil(len(ready) / slots))]
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
