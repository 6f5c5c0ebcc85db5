"""Meta-validation: every `every` trained evaluations the best program so far is trained on a
held-out larger task (evaluations of kind 'metaval'), so that proxy fitness and meta-validation
can be plotted side by side. The training is a job for the search's workers like a child (the
search goes on meanwhile); a round that comes while one is in flight is skipped."""
from __future__ import annotations

import math

from lion_search.runs.journal import EvalKind, RunStore
from lion_search.search.jobs import Done, Job, Scoring
from lion_search.search.observer import Observer
from lion_search.search.records import Member


class MetaValidation:
    """Meta-validation on `task` (None: off) every `every` trained evaluations, with the
    search's training `seeds`; results go to the journal and the observer."""

    def __init__(self, store: RunStore, task: str | None, every: int, seeds: tuple[int, ...],
                 observer: Observer):
        self.store = store
        self.task = task
        self.every = every
        self.seeds = seeds
        self.observer = observer
        self.job: Member | None = None                  # the member in training
        self.last: tuple[int, Done] | None = None       # (program id, its result)

    @property
    def in_flight(self) -> bool:
        return self.job is not None

    def owns(self, job_id: int) -> bool:
        """Whether a finished job is the meta-validation in flight."""
        return self.job is not None and job_id == self.job.id

    def resume(self) -> None:
        """Take up the journal's last meta-validation (so that a best meta-validated before
        the run stopped is journaled from its result, as it would have been)."""
        last = self.store.evaluations(EvalKind.METAVAL, last=1) if self.task else []
        if last:
            e = last[0]
            self.last = (e.program, Done(e.program, e.fitness, e.status, e.seconds, e.worker))

    def start(self, best: Member | None, trained: int) -> list[Job]:
        """The job that meta-validates `best` when a round is due after `trained` evaluations
        (none otherwise). A best meta-validated already is journaled again from its result
        (cached), not trained again: same program, task and seeds give the same number."""
        if self.task is None or best is None or trained % self.every or self.job is not None:
            return []
        if self.last is not None and self.last[0] == best.id:
            done = self.last[1]
            self.store.add_evaluation(best.id, kind=EvalKind.METAVAL, fitness=done.fitness,
                                      status=done.status, cached=True, task=self.task,
                                      seeds=self.seeds, seconds=0.0, worker=done.worker)
            return []
        self.job = best
        return [Job(best.id, str(best.program), Scoring((self.task,), (math.inf,)))]

    def record(self, done: Done) -> None:
        """Journal a finished meta-validation and tell the observer."""
        member, self.job = self.job, None
        self.last = (member.id, done)
        self.store.add_evaluation(member.id, kind=EvalKind.METAVAL, fitness=done.fitness,
                                  status=done.status, task=self.task, seeds=self.seeds,
                                  seconds=done.seconds, worker=done.worker)
        self.observer.metaval(self.task, member, done.fitness)
