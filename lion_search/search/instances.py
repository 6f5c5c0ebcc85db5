"""Fitness over training instances: each program's paired scores on the seeds it was trained on.

The search trains on seeds of a pool, range(seed_pool), an epoch's at a time: during an epoch
of `rotate_every` evaluations every new program trains on the same `fitness_seeds` seeds (so
that programs compare on the same training runs: common random numbers), and the next epoch
moves on to the next seeds of the pool, so that no run of the search can tune itself to one
training run. On seed s a program's score is d_s = mean over tasks i of log(L_{i,s} /
r_{i,s}), where r_{i,s} is the loss of the reference (AdamW at its calibrated lr) on task i with
the same seed, so that the luck of an easy run (its initialisation and batch order) cancels and
scores from different epochs compare. A program's fitness is the mean of its n scores, shrunk
toward the reference's 0 by `prior` pseudo-seeds:

    fitness = sum_{s in S(p)} d_s / (n + prior)

so that one lucky run does not rank a program above ones measured on many (`prior` = sigma^2 /
tau^2, the per-seed noise over the spread of programs' true scores: about 1 on the default
proxy, BENCHMARKS section 16). With `own_spread` (`SpreadPool`), a record trained on enough
seeds to measure its own noise is shrunk by it instead,

    fitness = sum_{s in S(p)} d_s / (n + prior * sigma_p^2 / mean_q sigma_q^2),

sigma_p^2 its scores' sample variance and the mean over the run's records so measured: some
programs are numerically chaotic, their runs scattering by 0.5 to 1.9 in log ratio where most
scatter by 0.1 to 0.4, and the best mean of four such runs among hundreds of records is a
lucky one (BENCHMARKS section 37).

With `reproduce` (off by default: at equal CPU it gained nothing beyond the spread,
BENCHMARKS section 23), a score must also reproduce. Some programs are numerically chaotic: a
change in the last bits of one step (another batch, another lr by 0.01%) ends their training
somewhere else, so one run on a seed is a draw, and the best of thousands of draws is a lucky
one (BENCHMARKS section 22). A seed trained again at a nudged learning rate (`repeats`: a
reproduction, see `search.retraining`) scores the worse of its two runs,

    d_s = max(d_s(lr), d_s(lr (1 + nudge))),

which leaves a smooth program's score as it was (its two runs agree to about 1e-4) and takes a
chaotic program's lucky draw back.

Equivalent programs (one fingerprint, `analysis.dedup`) share one record, and so do twins: a
program whose first training scored, on a seed, exactly what a record scored there (to the last
bit: the same steps on the same run, `dedup.score_keys`) joins that record, though no
fingerprint tells them apart (a slot read only on a branch training never takes; nine copies of
one program once filled a run's leaders, BENCHMARKS section 37). A program found again
in a later epoch, or selected as a parent there (`search.evolution`), is trained on that
epoch's seeds too, up to `max_seeds`: the programs that survive are measured on one more
training run each epoch, and a lucky number does not stay. A run that diverges or is cut at a
hurdle fails the record (the worst fitness, trained no more).

Selection is where one lucky run does most harm: the best of thousands of one-seed scores are
the luckiest runs (BENCHMARKS section 20). So the `leaders`, the `top` best records by fitness,
are kept in order as results come in, and a leader with fewer than `confirm` seeds is trained on
further seeds (`confirmation_seeds`) before the search proposes its next child: the programs a
run hands over, promotes and checks are each measured on at least `confirm` training runs.
"""
from __future__ import annotations

import heapq
import itertools
import math
import statistics
from dataclasses import dataclass, field
from typing import Iterable

from lion_search.evaluation.results import WORST_FITNESS
from lion_search.search.config import EvolveConfig


@dataclass
class SeedRecord:
    """A program's scores by training seed (all its equivalents', pooled), in the order they
    were trained, and on some seeds its score when trained again at a nudged learning rate
    (`repeats`); `failed` once any run failed. `members` are the journal ids of the programs
    that share it; `prior` the pseudo-seeds at the reference's score that its fitness is shrunk
    with."""

    scores: dict[int, float] = field(default_factory=dict)
    repeats: dict[int, float] = field(default_factory=dict)
    failed: bool = False
    members: set[int] = field(default_factory=set)
    prior: float = 0.0
    order: int = 0      # records made before this one: ties in fitness go to the first found
    spread: "SpreadPool | None" = None   # the run's per-seed variances, with `own_spread`

    @property
    def ranked(self) -> bool:
        """Whether the record can lead: trained, and no run failed."""
        return bool(self.scores) and not self.failed

    def score(self, seed: int) -> float:
        """The score on `seed`: the worse of its run and its repeat, where it has one."""
        return max(self.scores[seed], self.repeats.get(seed, -math.inf))

    @property
    def fitness(self) -> float:
        """sum of the scores / (their number + shrinkage) (the worst once a run failed)."""
        if self.failed or not self.scores:
            return WORST_FITNESS
        return math.fsum(map(self.score, self.scores)) / (len(self.scores) + self.shrinkage)

    @property
    def variance(self) -> float:
        """The sample variance of its scores (nan with fewer than two)."""
        return statistics.variance(map(self.score, self.scores)) if len(self.scores) > 1 \
            else math.nan

    @property
    def shrinkage(self) -> float:
        """The pseudo-seeds its fitness is shrunk with: `prior`, times its own variance over
        the run's mean once it is measured on enough seeds (`spread`)."""
        pool = self.spread
        if pool is None or len(self.scores) < pool.seeds or not pool.mean > 0.0:
            return self.prior
        return self.prior * self.variance / pool.mean

    @property
    def first_seed(self) -> int:
        """The seed it was first trained on: the run that let it into the search."""
        return next(iter(self.scores))


@dataclass
class SpreadPool:
    """The per-seed variances of a run's records trained on at least `seeds` seeds (not
    failed), by record `order`: what a record's own variance is measured against. Their mean
    moves as records are measured; a record's fitness reads it when asked (the leaders are
    ordered again as their records change, the population's members as theirs are filed)."""

    seeds: int
    variances: dict[int, float] = field(default_factory=dict)
    total: float = 0.0

    @property
    def mean(self) -> float:
        return self.total / len(self.variances) if self.variances else math.nan

    def file(self, record: SeedRecord) -> None:
        """Take in a record's variance after its scores changed (or drop a failed one)."""
        self.total -= self.variances.pop(record.order, 0.0)
        if not record.failed and len(record.scores) >= self.seeds:
            self.variances[record.order] = record.variance
            self.total += record.variance


class Instances:
    """The seed records of a search, by fingerprint."""

    def __init__(self, pool: int, per_program: int, most: int, prior: float = 0.0,
                 rotate_every: int = 0, top: int = 0, own_spread: int = 0):
        self.pool = pool
        self.per_program = per_program
        self.most = most
        self.prior = prior
        self.rotate_every = rotate_every
        self.top = top
        # with own_spread (the seeds a record's own variance is measured on, at least 2)
        self.spread = SpreadPool(max(own_spread, 2)) if own_spread else None
        self.records: dict[str, SeedRecord] = {}
        self.twins: dict[str, str] = {}       # a twin's fingerprint -> its record's
        self.scored: dict[tuple[int, float], str] = {}   # (seed, score) -> the record's key
        self.leaders: list[str] = []    # the `top` best records' keys, best first
        self.reevaluations = 0      # trainings of a program equivalent to one trained before

    def record(self, key: str) -> SeedRecord | None:
        return self.records.get(self.twins.get(key, key))

    def epoch_seeds(self, trained: int) -> tuple[int, ...]:
        """The seeds of the epoch after `trained` evaluations: `per_program` consecutive pool
        seeds, the next ones every `rotate_every` evaluations (the first ones for ever, with
        rotate_every 0)."""
        epoch = trained // self.rotate_every if self.rotate_every else 0
        return tuple((epoch * self.per_program + i) % self.pool for i in range(self.per_program))

    def new_seeds(self, key: str, trained: int) -> tuple[int, ...]:
        """The seeds a program with fingerprint `key` trains on next, after `trained`
        evaluations: the epoch's seeds it has not been trained on (none once it has `most`, or
        failed)."""
        record = self.record(key)
        seen = set(record.scores) if record else set()
        if record and (record.failed or len(seen) >= self.most):
            return ()
        return tuple(s for s in self.epoch_seeds(trained) if s not in seen)

    def add(self, key: str, member: int, seeds: Iterable[int], scores: Iterable[float],
            ok: bool, rank: bool = True, repeat: bool = False) -> SeedRecord:
        """File a training of program `member` (fingerprint `key`) on `seeds`: its per-seed
        scores (`repeat`: of seeds trained again at the nudged lr), or a failure; returns the
        record. `rank` False leaves the leaders as they were (a journal being read: `rerank`
        once it is)."""
        seeds, scores = tuple(seeds), tuple(scores)
        key = self.twins.get(key, key)
        if key not in self.records and ok and not repeat:
            twin = self.twin_of(dict(zip(seeds, scores)))
            if twin is not None:
                self.twins[key] = twin
                key = twin
        record = self.records.setdefault(key, SeedRecord(prior=self.prior,
                                                          order=len(self.records),
                                                          spread=self.spread))
        if record.scores and not record.failed:
            self.reevaluations += 1
        record.members.add(member)
        if ok:
            by_seed = dict(zip(seeds, scores))
            (record.repeats if repeat else record.scores).update(by_seed)
            if not repeat:
                self.scored.update((pair, key) for pair in by_seed.items())
        else:
            record.failed = True
        if self.spread is not None:
            self.spread.file(record)
        if rank:
            self.rank(key)
        return record

    def twin_of(self, scores: dict[int, float]) -> str | None:
        """The key of a record (not failed) that scored one of `scores` on the same seed, and
        the same on every seed both were trained on; None if there is none."""
        for pair in scores.items():
            key = self.scored.get(pair)
            if key is not None and not self.records[key].failed and all(
                    self.records[key].scores.get(seed, score) == score
                    for seed, score in scores.items()):
                return key
        return None

    def standing(self, key: str) -> tuple[float, int]:
        """What leaders are ordered by: fitness, then the first found."""
        record = self.records[key]
        return record.fitness, record.order

    def rank(self, key: str) -> None:
        """Keep `leaders` after record `key` changed: a leader's new score may let in a record
        outside them (so they are found again among all); another record joins them only if it
        beats the last."""
        if not self.top:
            return
        if key in self.leaders:
            self.rerank()
        elif self.records[key].ranked and (
                len(self.leaders) < self.top
                or self.standing(key) < self.standing(self.leaders[-1])):
            self.leaders = sorted(self.leaders + [key], key=self.standing)[:self.top]

    def rerank(self) -> None:
        """Find the leaders among all records."""
        self.leaders = heapq.nsmallest(
            self.top, (k for k, r in self.records.items() if r.ranked),
            key=self.standing)

    def confirmation_seeds(self, key: str, confirm: int) -> tuple[int, ...]:
        """The seeds that give record `key` `confirm` in all: the pool seeds after the first it
        trained on, around the pool, that it has not trained on (none if it has enough)."""
        record = self.records[key]
        first = record.first_seed
        ring = ((first + i) % self.pool for i in range(1, self.pool))
        return tuple(itertools.islice((s for s in ring if s not in record.scores),
                                      max(confirm - len(record.scores), 0)))

    def join(self, key: str, member: int) -> SeedRecord | None:
        """A cache hit `member` joins the record of its fingerprint (if there is one)."""
        record = self.record(key)
        if record is not None:
            record.members.add(member)
        return record


def from_config(config: EvolveConfig) -> Instances | None:
    """A search's seed records (None for a run without a seed pool)."""
    if not config.pooled:
        return None
    return Instances(config.seed_pool, config.fitness_seeds, config.max_seeds,
                     config.prior_seeds, config.rotate_every, config.confirm_top,
                     config.confirm_seeds if config.own_spread else 0)
