"""What the report's plots show, read from the journal: the search evaluations in journal
order, the best fitness so far, the population's rolling median and failed share, the scores
of other kinds (meta-validation, promotion), the seeds' fitness and throughput over wall time.
Plain numpy, no drawing."""
from __future__ import annotations

import math
import warnings

import numpy as np

from lion_search.runs.journal import EvalKind, RunStore


def search_arrays(store: RunStore) -> dict[str, np.ndarray]:
    """Search evaluations in journal order: ids, fitness (inf = failed), cached, created."""
    rows = [(e.id, e.fitness, e.cached, e.created) for e in store.evaluations(EvalKind.SEARCH)]
    data = np.array(rows, dtype=float).reshape(-1, 4)
    return {"id": data[:, 0], "fitness": data[:, 1], "cached": data[:, 2].astype(bool),
            "created": data[:, 3]}


def best_so_far(fitness: np.ndarray) -> np.ndarray:
    """Running minimum (inf until the first success)."""
    return np.minimum.accumulate(fitness) if len(fitness) else fitness


def _rolling(values: np.ndarray, window: int, reduce) -> np.ndarray:
    """reduce(axis=1) over the last `window` values (all so far while fewer)."""
    n = len(values)
    window = max(1, int(window))
    out = np.empty(n)
    for i in range(min(n, window - 1)):
        out[i] = reduce(values[None, :i + 1], axis=1)[0]
    if n >= window:
        out[window - 1:] = reduce(np.lib.stride_tricks.sliding_window_view(values, window), axis=1)
    return out


def rolling_median(fitness: np.ndarray, window: int) -> np.ndarray:
    """The population's median fitness after each evaluation: the median over the successful
    members among the last `window` evaluations (nan where none succeeded)."""
    finite = np.where(np.isfinite(fitness), fitness, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # all-nan windows give nan
        return _rolling(finite, window, np.nanmedian)


def rolling_failed(fitness: np.ndarray, window: int) -> np.ndarray:
    """The share of failed (infinite-fitness) members among the last `window` evaluations."""
    return _rolling((~np.isfinite(fitness)).astype(float), window, np.mean)


def kind_scores(store: RunStore, search_ids: np.ndarray, kind: EvalKind
            ) -> tuple[np.ndarray, np.ndarray, str] | None:
    """(search evaluation index, fitness, task) of the evaluations of `kind` (None if none)."""
    rows = store.evaluations(kind)
    if not rows:
        return None
    x = np.searchsorted(search_ids, [r.id for r in rows]).astype(float)
    return x, np.array([r.fitness for r in rows], float), rows[-1].task


def seed_fitness(store: RunStore) -> float:
    return min((s["fitness"] for s in store.value("seeds", []) if s.get("fitness") is not None),
               default=math.inf)


def throughput(created: np.ndarray, cached: np.ndarray, bins: int | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Binned over wall time from the first search evaluation: bin centres (s), trained
    evaluations/s, cache hit rate (nan in empty bins), and the bin width (s)."""
    if len(created) == 0:
        return np.array([]), np.array([]), np.array([]), 0.0
    start = created.min()
    span = max(created.max() - start, 1e-3)
    bins = bins or int(np.clip(len(created) // 20, 5, 60))
    edges = np.linspace(0.0, span * (1 + 1e-9), bins + 1)
    t = created - start
    trained, _ = np.histogram(t[~cached], edges)
    hits, _ = np.histogram(t[cached], edges)
    width = edges[1] - edges[0]
    total = trained + hits
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(total > 0, hits / np.maximum(total, 1), np.nan)
    return (edges[:-1] + edges[1:]) / 2, trained / width, rate, width
