"""Rank agreement between two scores of the same programs (lower is better for both).

A proxy is useful when it ranks programs as the target does. The measure is Kendall's tau-b,

    tau = (C - D) / sqrt((C + D + T_x) (C + D + T_y)),

over all pairs of programs: C pairs ordered the same way by both scores, D pairs ordered
oppositely, T_x pairs tied on x only, T_y pairs tied on y only (pairs tied on both count in
neither). 1 is the same order, -1 the reverse, 0 no relation. A failed run (NaN or inf) is
the worst score: all failures tie below every finite score.

Several targets are combined by the mean rank: each program's rank on each target (ties take
their mean rank, 1 = best), averaged over the targets.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats


def worst_for_failures(values: Sequence[float]) -> np.ndarray:
    """The scores as floats, NaN (a failed run) turned into +inf, the worst."""
    x = np.asarray(values, dtype=float)
    return np.where(np.isnan(x), math.inf, x)


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b between two scores of the same programs; NaN when it is undefined
    (fewer than 2 programs, or one score ties every program)."""
    if len(x) != len(y):
        raise ValueError(f"two scores of the same programs are needed, got {len(x)} and {len(y)}")
    if len(x) < 2:
        return math.nan
    a, b = worst_for_failures(x), worst_for_failures(y)
    if np.all(a == a[0]) or np.all(b == b[0]):
        return math.nan
    return float(stats.kendalltau(a, b).statistic)


def ranks(values: Sequence[float]) -> np.ndarray:
    """Each program's rank by its score (1 = lowest; ties share their mean rank; failures last)."""
    return stats.rankdata(worst_for_failures(values))


def mean_rank(columns: Sequence[Sequence[float]]) -> np.ndarray:
    """Each program's rank averaged over several scores (one column of scores per target)."""
    if not columns:
        raise ValueError("the mean rank needs at least one target")
    return np.mean([ranks(column) for column in columns], axis=0)
