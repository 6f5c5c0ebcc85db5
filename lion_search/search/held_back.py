"""The noise ceiling, measured at the end of a run: do the search's best gains hold up on
training runs it never saw?

The top `held_back_top` programs by proxy fitness (of those `eligible`: a search that confirms
its leaders on more seeds checks only confirmed ones; one of each function on the proxy's
tensors, `proxy_distinct`), and the first seed program beside them, are trained on the proxy
task(s) with the held-back seeds H (which no search trains on). Program
p's held-back score is paired with the seed on the same runs:

    h_p = mean over seeds s in H and tasks i of  log(L_{p,i,s} / L_{seed,i,s})

and its gain over the seed there is -h_p; its gain on the search's own seeds is g_p, the same
log ratio from proxy fitness (`proxy_gain`). The check reports the share of the mean gain that
held up, mean(-h_p) / mean(g_p), and the test-retest Kendall tau between proxy fitness and h_p.
A share below HELD_UP_AT earns a one-line warning.
"""
from __future__ import annotations

import itertools
import math
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np

from lion_search.analysis.agreement import kendall_tau
from lion_search.analysis.dedup import score_keys, tasks_runs, training_keys
from lion_search.evaluation.results import Status
from lion_search.language.parser import parse_program
from lion_search.runs import journal_twins
from lion_search.runs.journal import EvalKind, ProgramRow, RunStore
from lion_search.search.config import EvolveConfig
from lion_search.search.jobs import Done, Job, Scoring

HELD_UP_AT = 0.5      # the share of the proxy gain below which the check warns
JOB_IDS = -1_000_000_000  # held-back jobs' ids count down from here (apart from promotion's)


def proxy_gain(fitness: float, seed: float, relative: bool) -> float:
    """A program's gain over the seed from proxy fitness, as a log ratio: seed - fitness for a
    relative fitness (a mean log ratio already), else log(seed / fitness) for a loss."""
    if not (math.isfinite(fitness) and math.isfinite(seed)):
        return math.nan
    return seed - fitness if relative else math.log(seed / fitness)


class HeldBack(NamedTuple):
    """The check's outcome: per program (id, proxy gain, held-back gain), the held-back seeds,
    the mean gains, the share held up and the test-retest tau."""

    seeds: tuple[int, ...]
    programs: tuple[tuple[int, float, float], ...]
    proxy_gain: float
    held_gain: float
    tau: float

    @property
    def share(self) -> float:
        """mean held-back gain / mean proxy gain (NaN when the proxy gain is not positive)."""
        return self.held_gain / self.proxy_gain if self.proxy_gain > 0 else math.nan

    def describe(self) -> str:
        """One line: the two mean gains, the share and the tau."""
        tau = "n/a" if math.isnan(self.tau) else f"{self.tau:+.2f}"
        share = "" if math.isnan(self.share) else f"; {100 * self.share:.0f}% of it held up"
        return (f"held-back check: the top {len(self.programs)} programs by proxy fitness gain "
                f"{percent(self.proxy_gain)} over the seed on the search's seeds and "
                f"{percent(self.held_gain)} on {len(self.seeds)} held-back seeds{share} "
                f"(test-retest Kendall tau {tau})")

    def warning(self) -> str | None:
        """The warning a gain that did not hold up earns, else None."""
        if not self.proxy_gain > 0 or self.share >= HELD_UP_AT:
            return None
        return (f"the search's gains did not hold up on training runs it never saw: its top "
                f"{len(self.programs)} keep {100 * self.share:.0f}% of their proxy gain "
                f"({percent(self.held_gain)} against {percent(self.proxy_gain)}): "
                "their proxy fitness is mostly the luck of the search's training seeds")

    def to_json(self) -> dict:
        return {"seeds": list(self.seeds),
                "programs": [{"id": pid, "proxy_gain": nan_none(g), "held_gain": nan_none(h)}
                             for pid, g, h in self.programs],
                "proxy_gain": nan_none(self.proxy_gain), "held_gain": nan_none(self.held_gain),
                "share": nan_none(self.share), "tau": nan_none(self.tau),
                "describe": self.describe(), "warning": self.warning()}

    @classmethod
    def from_json(cls, data: dict) -> "HeldBack":
        def num(x: float | None) -> float:
            return math.nan if x is None else x

        return cls(tuple(data["seeds"]), tuple((p["id"], num(p["proxy_gain"]),
                                                num(p["held_gain"])) for p in data["programs"]),
                   num(data["proxy_gain"]), num(data["held_gain"]), num(data["tau"]))


def percent(log_ratio: float) -> str:
    """A gain as a log ratio, in words: the loss it saves as a percentage."""
    return "n/a" if math.isnan(log_ratio) else f"{100 * (1 - math.exp(-log_ratio)):+.1f}%"


def nan_none(x: float) -> float | None:
    return None if math.isnan(x) else x


def held_back_scores(losses: dict[int, Sequence[Sequence[float]]], seed: int
                     ) -> dict[int, float]:
    """h_p for each program from its losses [task][seed] (inf where a run failed): the mean log
    ratio to the seed program's on the same runs; inf for a program that failed anywhere."""
    base = np.asarray(losses[seed], dtype=float)
    out = {}
    for pid, rows in losses.items():
        values = np.asarray(rows, dtype=float)
        out[pid] = float(np.mean(np.log(values / base))) \
            if np.all(np.isfinite(values)) and np.all(values > 0) else math.inf
    return out


def proxy_distinct(rows: Sequence[ProgramRow], runs: tuple,
                   scores: Mapping[int, Mapping[int, float]]) -> list[int]:
    """The ids of `rows`, in order, but for those that share a key over the proxy's `runs`
    (`dedup.tasks_runs`; `dedup.training_keys`: from a random or from a zero state), or a
    score on one of its training runs (`scores`, by program id; `dedup.score_keys`), with an
    earlier one: programs that differ only where the proxy never goes (a branch a promotion
    task's tensors take, a slot that stays zero from zero, a slot read on a branch never taken)
    train alike on it, and ten of them made one run's check one program deep (BENCHMARKS.md
    sections 33 and 37)."""
    seen: set[str] = set()
    out = []
    for row in rows:
        keys = set(training_keys(parse_program(row.text), runs)) | score_keys(
            scores.get(row.id, {}))
        if not keys & seen:
            out.append(row.id)
        seen |= keys
    return out


class HeldBackCheck:
    """The end-of-run check of a search over `store`, as jobs for its workers."""

    def __init__(self, store: RunStore, config: EvolveConfig,
                 eligible: Callable[[str], bool] = lambda fingerprint: True):
        self.store = store
        self.config = config
        self.eligible = eligible      # whether programs of a fingerprint may be checked
        self.jobs: dict[int, int] = {}                 # job id -> program id
        self.losses: dict[int, list[list[float]]] = {}
        self.started = False

    @property
    def in_flight(self) -> bool:
        return bool(self.jobs)

    def owns(self, job_id: int) -> bool:
        return job_id in self.jobs

    def start(self) -> list[Job]:
        """The check's jobs, once per run (none if it is off, done, or nothing was found)."""
        seeds = self.config.held_back_seeds
        if self.started or not seeds or self.store.value("held_back") is not None:
            return []
        self.started = True
        rows = [row for row, _ in self.store.best(20 * self.config.held_back_top)
                if self.eligible(row.fingerprint)]
        top = proxy_distinct(rows, tasks_runs(self.config.tasks),
                             journal_twins.trained_scores(self.store, [row.id for row in rows])
                             )[:self.config.held_back_top]
        seed = self.store.value("seeds")[0]["id"]
        if not top:
            return []
        # (a portfolio's evaluator wants references: any will do, as the check reads the losses)
        n = len(self.config.tasks)
        scoring = Scoring(self.config.tasks, (math.inf,) * n, (1.0,) * n if n > 1 else None,
                          seeds)
        ids = itertools.count(JOB_IDS, -1)
        jobs = [Job(next(ids), self.store.program(pid).text, scoring)
                for pid in dict.fromkeys([seed] + top)]
        self.jobs = {job.id: pid for job, pid in zip(jobs, dict.fromkeys([seed] + top))}
        return jobs

    def record(self, done: Done) -> HeldBack | None:
        """File one training; once all are in, journal the check (evaluations of kind
        `held-back`, the run value `held_back`) and return it."""
        pid = self.jobs.pop(done.id)
        self.losses[pid] = [list(r.per_seed) if r.status == Status.OK else
                            [math.inf] * len(self.config.held_back_seeds) for r in done.per_task]
        self.losses[pid] += [[math.inf] * len(self.config.held_back_seeds)] * (
            len(self.config.tasks) - len(done.per_task))
        if self.jobs:
            return None
        return self.journal()

    def journal(self) -> HeldBack:
        seeds = self.store.value("seeds")
        seed = seeds[0]["id"]
        scores = held_back_scores(self.losses, seed)
        top = [pid for pid in self.losses if pid != seed]
        fitness = self.store.best_fitness(top)
        relative = bool(self.store.value("references")) or self.config.pooled
        seed_fitness = self.store.best_fitness([seed]).get(seed, seeds[0]["fitness"])
        for pid, h in scores.items():
            self.store.add_evaluation(
                pid, kind=EvalKind.HELD_BACK, fitness=h,
                status=Status.OK if math.isfinite(h) else Status.FAILED, task=self.config.task,
                seeds=self.config.held_back_seeds, seconds=0.0, worker="held-back")
        programs = tuple((pid, proxy_gain(fitness.get(pid, math.inf), seed_fitness, relative),
                          -scores[pid]) for pid in top)
        finite = [(g, h) for _, g, h in programs if math.isfinite(g) and math.isfinite(h)]
        check = HeldBack(tuple(self.config.held_back_seeds), programs,
                         float(np.mean([g for g, _ in finite])) if finite else math.nan,
                         float(np.mean([h for _, h in finite])) if finite else math.nan,
                         kendall_tau([-g for g, _ in finite], [-h for _, h in finite]))
        self.store.set_value("held_back", check.to_json())
        return check
