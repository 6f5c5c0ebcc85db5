"""A search's history as its journal tells it (`bench.rediscovery`): when it first trained
a program, and its cache hits over time.

When the search found a program: the position, among the run's trained search evaluations, of
the first that trained a program of its functional fingerprint (0: a seed program's own).

Cache hits over time: the run's proposed children (its journaled search evaluations, cache hits
included) in windows of WINDOW proposals, each with its share of cache hits and its share of
proposals that trained a program of a fingerprint no earlier evaluation had ("new": neither a
cache hit nor a re-evaluation of a known program on other seeds). Only what the journal's
evaluations hold counts: a child the search discarded before journaling it is no proposal here.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

from lion_search.runs.journal import EvalKind, RunStore

WINDOW = 1000             # proposals per window of the cache-hit history
SETTLED = 1000            # trained evaluations after which a search should train new programs


class HistoryRow(NamedTuple):
    """A proxy evaluation as the search met it: its kind (a seed program's, or a proposed
    child's), whether it was a cache hit, its program's fingerprint, and when it was journaled."""

    kind: EvalKind
    cached: bool
    fingerprint: str
    created: float


def history(store: RunStore) -> list[HistoryRow]:
    """The seed programs' evaluations and every proposed child's (kind 'search', cache hits
    included), in journal order."""
    fingerprints = {pid: fingerprint for pid, _, fingerprint in store.program_keys()}
    rows = sorted([*store.evaluations(EvalKind.SEED), *store.evaluations(EvalKind.SEARCH)],
                  key=lambda e: e.id)
    return [HistoryRow(EvalKind(e.kind), e.cached, fingerprints[e.program], e.created)
            for e in rows]


class Window(NamedTuple):
    """`proposals` proposed children after the first `start`: how many were cache hits, and
    how many trained a program of a fingerprint not evaluated before."""

    start: int
    proposals: int
    hits: int
    new: int

    @property
    def hit_rate(self) -> float:
        return self.hits / self.proposals

    @property
    def new_share(self) -> float:
        return self.new / self.proposals


def novelty(proposals: Sequence[HistoryRow]) -> list[tuple[HistoryRow, bool]]:
    """Each proposed child (the seeds' rows left out) and whether it trained a program of a
    fingerprint that no earlier row (a seed's included) had."""
    seen: set[str] = set()
    out = []
    for row in proposals:
        if row.kind is EvalKind.SEARCH:
            out.append((row, not row.cached and row.fingerprint not in seen))
        seen.add(row.fingerprint)
    return out


def windows(proposals: Sequence[HistoryRow], size: int = WINDOW) -> tuple[Window, ...]:
    """The proposed children in windows of `size` (the last one may be shorter)."""
    marked = novelty(proposals)
    return tuple(Window(i, len(part), sum(r.cached for r, _ in part), sum(n for _, n in part))
                 for i in range(0, len(marked), size) for part in [marked[i:i + size]])


def new_share_after(proposals: Sequence[HistoryRow], trained: int = SETTLED) -> float:
    """The share of the proposed children after the `trained`-th trained one that trained a new
    program (nan if there are none)."""
    marked = novelty(proposals)
    count, after = 0, []
    for row, new in marked:
        if count >= trained:
            after.append(new)
        count += not row.cached
    return sum(after) / len(after) if after else math.nan


class Found(NamedTuple):
    """When a search first trained a program of a fingerprint: after `trained` of its trained
    evaluations (that one included; 0: a seed's), `seconds` after its first journaled
    evaluation (wall clock)."""

    trained: int
    seconds: float


def first_found(proposals: Sequence[HistoryRow], fingerprint: str) -> Found | None:
    """When the first evaluation of a program of `fingerprint` was trained (None: never)."""
    count = 0
    for row in proposals:
        if row.kind is EvalKind.SEARCH and not row.cached:
            count += 1
        if row.fingerprint == fingerprint and not row.cached:
            return Found(count if row.kind is EvalKind.SEARCH else 0,
                         row.created - proposals[0].created)
    return None
