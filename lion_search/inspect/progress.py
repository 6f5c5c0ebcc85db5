"""How fast a search finds what transfers: the best promoted score against the search's spend,
beside how fast it climbs its proxy (the best proxy fitness, read the same way).

A run's promoted score s (lower is better; below 0 the program beats the promotion reference,
tuned AdamW, on every promotion task) is journaled once per promoted program. Its progress is
the running minimum of s against n, the trained search evaluations journaled before that
promotion (cache hits are free), and against the seconds since the run's first evaluation:

    best(n) = min { s_j : promotion j came after at most n trained evaluations }

Runs that differ only in their random seed form a group (evolution, random search, ...); a
group's curve at n is the mean of its runs' best(n) with the spread (standard deviation) over
them, over the n that every run reached (a budget compared must be a budget spent).
"""
from __future__ import annotations

import math
from enum import StrEnum
from typing import NamedTuple, Sequence

import numpy as np

from lion_search.runs.journal import EvalKind, RunStore


class Measure(StrEnum):
    """What a progress curve follows (lower is better for both)."""

    PROMOTED = "best promoted score"
    PROXY = "best proxy fitness"


class ProgressPoint(NamedTuple):
    """The run's best so far after `trained` evaluations and `seconds` of search."""

    trained: int
    seconds: float
    best: float


class RunProgress(NamedTuple):
    """One run's progress: its promoted points (one per promotion), its proxy points (one per
    search evaluation that improved the best proxy fitness), and its trained evaluations."""

    run: str
    points: tuple[ProgressPoint, ...]
    trained: int
    proxy: tuple[ProgressPoint, ...] = ()

    def best_at(self, trained: int, measure: Measure = Measure.PROMOTED) -> float:
        """best(n): the lowest value journaled by `trained` evaluations (inf if none)."""
        points = self.points if measure is Measure.PROMOTED else self.proxy
        values = [p.best for p in points if p.trained <= trained]
        return min(values) if values else math.inf


class GroupSummary(NamedTuple):
    """A group's best promoted score at given budgets: mean and standard deviation over its
    runs (inf where a run had no promoted program yet, which makes the mean inf)."""

    name: str
    runs: int
    budgets: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    below_zero: int          # runs whose final best beats the promotion reference


def run_progress(store: RunStore) -> RunProgress:
    """Read one run's promotions and search evaluations in journal order: each promoted score,
    and each new best proxy fitness, with the trained search evaluations and seconds before it."""
    start = store.time_span(EvalKind.SEARCH, cached=False)
    origin = start[0] if start else 0.0
    points, best = [], math.inf
    for row in store.evaluations(EvalKind.PROMOTED):
        best = min(best, row.fitness)
        trained = store.count(EvalKind.SEARCH, cached=False, upto=row.id)
        points.append(ProgressPoint(trained, max(row.created - origin, 0.0), best))
    proxy, best, trained = [], math.inf, 0
    for row in store.evaluations(EvalKind.SEARCH):
        trained += not row.cached
        if row.fitness < best:
            best = row.fitness
            proxy.append(ProgressPoint(trained, max(row.created - origin, 0.0), best))
    return RunProgress(str(store.folder), tuple(points), trained, tuple(proxy))


def common_budget(runs: Sequence[RunProgress]) -> int:
    """The trained evaluations every run reached."""
    return min(r.trained for r in runs)


def spread(runs: Sequence[RunProgress], budgets: Sequence[int],
           measure: Measure = Measure.PROMOTED) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (ddof 1; NaN for one run) of best(n) over the runs at each
    budget n; inf where some run had nothing yet."""
    rows = np.array([[r.best_at(int(n), measure) for n in budgets] for r in runs], dtype=float)
    mean, std = np.full(len(budgets), np.inf), np.full(len(budgets), np.inf)
    for i, column in enumerate(rows.T):
        if np.isfinite(column).all():
            mean[i] = column.mean()
            std[i] = column.std(ddof=1) if len(column) > 1 else np.nan
    return mean, std


def summarize_group(name: str, runs: Sequence[RunProgress], budgets: Sequence[int],
                    measure: Measure = Measure.PROMOTED) -> GroupSummary:
    """A group's mean and spread of best(n) at each budget n."""
    mean, std = spread(runs, budgets, measure)
    final = [r.best_at(budgets[-1], measure) for r in runs]
    return GroupSummary(name, len(runs), tuple(budgets), tuple(float(x) for x in mean),
                        tuple(float(x) for x in std), sum(1 for s in final if s < 0))


def checkpoints(budget: int, parts: int = 4) -> tuple[int, ...]:
    """`parts` equally spaced budgets up to `budget` (each at least 1)."""
    return tuple(sorted({max(round(budget * k / parts), 1) for k in range(1, parts + 1)}))


def budget_grid(budget: int, points: int = 200) -> np.ndarray:
    """About `points` budgets from 1 to `budget`, for a plot."""
    return np.unique(np.linspace(1, budget, points).round().astype(int))
