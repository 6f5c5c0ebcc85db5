"""The deterministic search's loop (`EvolveConfig.reproducible`: one worker, or
`--deterministic`): children are proposed in generations of `generation`, with the random
stream seeded from (rng_seed, generation); the jobs a collaborator asks for while a generation is
filed go with the next one proposed. Generation k+1 is proposed from the population as
generation k-1 left it, and sent while generation k trains; every SETTLE_EVERY generations (and
at the end) all in flight is filed first. A generation's children are filed in the order they
were sent; a collaborator's job (a promotion's training, meta-validation, the held-back check)
sent with generation k is filed after generation k + COLLABORATOR_LAG's children, so that while
one worker trains a promotion's long job the others train the next generations rather than
wait for it. Whatever the number of workers and however long each training takes, the same
settings give the same journal.

Writes are held (`RunStore.hold`) between checkpoints, settled generation boundaries where
nothing is in flight or queued and the islands are journaled too (`search.checkpoint`), so that a
run killed at any moment resumes from one and goes on as if it had never stopped.

Its collaborator is the search (`search.evolution.Search`), which proposes children, files
results, knows what is in flight and what the end of a run trains."""
from __future__ import annotations

from typing import Callable, Protocol, Sequence

import numpy as np

from lion_search.runs.journal import EvalKind, RunStore
from lion_search.search import checkpoint
from lion_search.search.config import EvolveConfig
from lion_search.search.islands import Islands
from lion_search.search.jobs import Done, Job
from lion_search.search.observer import TRAINING, Observer
from lion_search.search.records import Stats

# Children proposed in one generation that train nothing before it goes to the workers, and in
# a row before the search gives up on a population whose every child is one it has seen (as
# the asynchronous search does, search.evolution).
MISSES_PER_PASS = 1000
STALL_AFTER = 200_000
# Generations at least between the points where the overlapping generations settle (all filed
# before the next is proposed) to be checkpointed: each settling idles the workers.
SETTLE_EVERY = 8
# Generations filed after the one a collaborator's job was sent with before its result is:
# a promotion's trainings take seconds (a child's a twentieth of one), and a worker that
# finished the generation's children would otherwise wait for them (BENCHMARKS 35).
COLLABORATOR_LAG = 4


class Searching(Protocol):
    """What the loop asks of its search (`search.evolution.Search`)."""

    store: RunStore
    config: EvolveConfig
    population: Islands
    rng: np.random.Generator
    pool: object              # the workers: submit, wait, starting
    pending: dict
    trained: int
    session_trained: int
    observer: Observer

    def job(self, pid: int) -> Job: ...
    def propose(self) -> Job | None: ...
    def take(self, done: Done) -> None: ...
    def open_slots(self) -> int: ...
    def in_flight(self) -> bool: ...
    def collaborating(self) -> bool: ...
    def final_jobs(self) -> list[Job]: ...
    def waiting(self, phase: str) -> None: ...
    def stats(self) -> Stats: ...


class Generations:
    """A deterministic search's generations: the next one's number, the children in a row
    that trained nothing, the collaborators' jobs queued for the next one, their jobs sent and
    not yet filed (each with the filing at which it is due), and the results that came in
    before their turn to be filed."""

    def __init__(self, search: Searching):
        self.search = search
        self.generation = 0
        self.misses = 0
        self.queued: list[Job] = []
        self.deferred: list[tuple[int, Job]] = []   # (the filing it is due at, job), in order
        self.filings = 0                            # generations filed this session
        self.results: dict[int, Done] = {}
        # The generation from which the next may settle: the first settles, so that the second
        # is proposed from its results (not from the seeds alone) and a checkpoint comes early.
        self.settle_at = 1

    def resume(self, saved: checkpoint.Checkpoint) -> None:
        """Take up where the journal's last checkpoint left off."""
        checkpoint.restore(self.search.population, saved)
        self.generation, self.misses = saved.generation, saved.misses
        self.settle_at = saved.generation + SETTLE_EVERY

    def run(self, in_time: Callable[[], bool], stop: Callable[[], bool]) -> bool:
        """Generation after generation until none is left to run; writes are held between
        checkpoints, and when `stop()` ends it they are dropped (the journal is left at its
        last checkpoint). Whether it stalled.

        The generations overlap: generation k+1 is proposed and sent while generation k
        trains (from the population as generation k-1 left it), so that the workers have the
        next jobs while the last of a generation finish. They settle (all in flight is filed
        before more is proposed, and a checkpoint is taken) after the first generation, once
        SETTLE_EVERY generations have passed since the last checkpoint while no collaborator's
        job is queued or training, and before the end."""
        search = self.search
        self.queued = [search.job(pid) for pid in search.pending]   # left pending by a journal
        search.store.hold()
        finished = stalled = False
        sent: list[Job] = []          # the last generation sent, not yet filed
        try:
            while True:
                if sent and (self.settling() or not self.searching(in_time)):
                    if not self.train(sent, stop, settle=True):
                        return False
                    sent = []
                    if not (self.queued or search.in_flight()):
                        self.checkpoint()
                        self.settle_at = self.generation + SETTLE_EVERY
                jobs = self.next(in_time, settled=not sent)
                if jobs is not None:
                    self.generation += 1
                if sent and not self.train(sent, stop):
                    return False
                if jobs is None and not sent:
                    break
                sent = jobs or []
            stalled = self.misses >= STALL_AFTER
            finished = True
        finally:
            search.store.release(keep=finished)
            if not finished:
                search.trained = search.store.count(EvalKind.SEARCH, cached=False)
        return stalled

    def settling(self) -> bool:
        """Whether the generations settle now: SETTLE_EVERY since the last checkpoint, and no
        collaborator's job queued or training (a checkpoint needs them all filed)."""
        return self.generation >= self.settle_at and not self.queued \
            and not self.search.collaborating()

    def searching(self, in_time: Callable[[], bool]) -> bool:
        """Whether the budget has room for children and `in_time()`."""
        return self.search.open_slots() > 0 and in_time()

    def next(self, in_time: Callable[[], bool], settled: bool) -> list[Job] | None:
        """The jobs of the next generation, each sent to the workers at once: first those the
        collaborators asked for while the last one was filed, then (while the budget lasts and
        `in_time()` when it begins) up to `generation` children proposed with the random stream
        seeded from (rng_seed, generation), fewer where MISSES_PER_PASS children in a row train
        nothing. Once the budget or time is spent, nothing is queued and (`settled`) nothing
        is in flight: the final promotion round, then the held-back check. None when the
        search is over (done, or stalled: STALL_AFTER children in a row trained nothing)."""
        search = self.search
        fresh = np.random.default_rng([search.config.rng_seed, self.generation])
        search.rng.bit_generator.state = fresh.bit_generator.state   # shared with the islands
        jobs, self.queued = self.queued, []
        search.pool.submit(jobs)
        open_slots = search.open_slots()
        searching = open_slots > 0 and in_time()
        children = misses = 0
        while searching and children < min(search.config.generation, open_slots) \
                and misses < MISSES_PER_PASS:
            job = search.propose()
            if job is None:
                self.misses, misses = self.misses + 1, misses + 1
                continue
            self.misses = 0
            search.pool.submit([job])
            jobs.append(job)
            children += 1
        if jobs:
            return jobs
        if not searching:
            if not settled:
                return []
            last = search.final_jobs()
            search.pool.submit(last)
            return last or None
        return [] if self.misses < STALL_AFTER else None   # [] : every child was one seen

    def train(self, jobs: Sequence[Job], stop: Callable[[], bool], settle: bool = False
              ) -> bool:
        """File a generation: first the collaborators' jobs due now (`due`), then its
        children, each result in the order its job was sent, as soon as those before it are
        in (the observer hears after each batch; results of other jobs wait for their turn);
        its collaborators' jobs are due COLLABORATOR_LAG filings later, or with `settle` now,
        after every job still deferred. False if `stop()` asked to stop first (checked at
        least every second)."""
        search = self.search
        self.filings += 1
        for job in jobs:
            if job.id not in search.pending:
                self.deferred.append((self.filings + COLLABORATOR_LAG, job))
        order = self.due(settle) + [job for job in jobs if job.id in search.pending]
        filed = 0
        while filed < len(order):
            if stop():
                return False
            if not search.session_trained:
                search.waiting(search.pool.starting() or TRAINING)
            if order[filed].id not in self.results:
                for done in search.pool.wait(timeout=1.0 if search.session_trained else 0.1):
                    self.results[done.id] = done
            while filed < len(order) and order[filed].id in self.results:
                search.take(self.results.pop(order[filed].id))
                filed += 1
            search.observer.update(search.stats())
        return True

    def due(self, settle: bool) -> list[Job]:
        """The deferred collaborators' jobs to file now, in the order they were sent: those
        due at this filing, or all of them when the generations `settle`."""
        now = [job for at, job in self.deferred if settle or at <= self.filings]
        self.deferred = [(at, job) for at, job in self.deferred
                         if not settle and at > self.filings]
        return now

    def checkpoint(self) -> None:
        """Journal the checkpoint (`search.checkpoint`) and commit everything held since the
        last one."""
        store = self.search.store
        checkpoint.journal(store, checkpoint.take(self.search.population, self.generation,
                                                  self.misses))
        store.release()
        store.hold()
