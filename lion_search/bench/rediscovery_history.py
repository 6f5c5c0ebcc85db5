"""A search's history as its journal tells it (`bench.rediscovery`): when it first trained
a program, and its cache hits over time.

When the search found a program: the position, among the run's trained search evaluations, of
the first that trained a program of its functional fingerprint (0: a seed program's own).

Cache hits over time: the run's proposed mutants (its journaled search evaluations, cache hits
included; a parent trained again on new seeds is no proposal) in windows of WINDOW proposals,
each with its share of cache hits, its share of proposals that trained a program of a
fingerprint no earlier evaluation had ("new": neither a cache hit nor a known program trained
on other seeds, nor a twin of one: a program that trained to the same loss on the same run,
`runs.journal_twins`, which a row takes its record's fingerprint for), and the equivalent
mutants the search mutated again before proposing (journal table `proposals`). The share of
all mutants generated that were equivalent to a program seen, (equivalents + proposals not
new) / (proposals + equivalents), is what the Lion search's cache hit rate (about 89%)
measured.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

from lion_search.runs import journal_proposals, journal_twins
from lion_search.runs.journal import EvalKind, RunStore

WINDOW = 1000             # proposals per window of the cache-hit history
SETTLED = 1000            # trained evaluations after which a search should train new programs


class HistoryRow(NamedTuple):
    """A proxy evaluation as the search met it: its kind (a seed program's, or a child's),
    whether it was a cache hit, its program's fingerprint, when it was journaled, whether the
    child was a mutant (else its parent trained again) and the equivalent mutants passed over
    before it."""

    kind: EvalKind
    cached: bool
    fingerprint: str
    created: float
    mutant: bool = True
    equivalents: int = 0


def history(store: RunStore) -> list[HistoryRow]:
    """The seed programs' evaluations and every child's (kind 'search', cache hits included),
    in journal order; a twin's with its record's fingerprint."""
    twins = journal_twins.records(store)
    fingerprints = {pid: twins.get(fingerprint, fingerprint)
                    for pid, _, fingerprint in store.program_keys()}
    proposed = journal_proposals.proposed(store)
    rows = sorted([*store.evaluations(EvalKind.SEED), *store.evaluations(EvalKind.SEARCH)],
                  key=lambda e: e.id)
    rows_out = []
    for e in rows:
        _, equivalents, mutant = proposed.get(e.program, (0, 0, True))
        rows_out.append(HistoryRow(EvalKind(e.kind), e.cached, fingerprints[e.program],
                                   e.created, mutant, equivalents))
    return rows_out


class Window(NamedTuple):
    """`proposals` proposed mutants after the first `start`: how many were cache hits, how
    many trained a program of a fingerprint not evaluated before, and the equivalent mutants
    mutated again before them."""

    start: int
    proposals: int
    hits: int
    new: int
    equivalents: int = 0

    @property
    def hit_rate(self) -> float:
        return self.hits / self.proposals

    @property
    def new_share(self) -> float:
        return self.new / self.proposals

    @property
    def equivalent_share(self) -> float:
        """The share of the mutants generated that were equivalent to a program seen."""
        return (self.equivalents + self.proposals - self.new) / (self.proposals
                                                                 + self.equivalents)


def novelty(proposals: Sequence[HistoryRow]) -> list[tuple[HistoryRow, bool]]:
    """Each proposed mutant (the seeds' rows and parents trained again left out) and whether
    it trained a program of a fingerprint that no earlier row (a seed's included) had."""
    seen: set[str] = set()
    out = []
    for row in proposals:
        if row.kind is EvalKind.SEARCH and row.mutant:
            out.append((row, not row.cached and row.fingerprint not in seen))
        seen.add(row.fingerprint)
    return out


def windows(proposals: Sequence[HistoryRow], size: int = WINDOW) -> tuple[Window, ...]:
    """The proposed children in windows of `size` (the last one may be shorter)."""
    marked = novelty(proposals)
    return tuple(Window(i, len(part), sum(r.cached for r, _ in part), sum(n for _, n in part),
                        sum(r.equivalents for r, _ in part))
                 for i in range(0, len(marked), size) for part in [marked[i:i + size]])


def new_share_after(proposals: Sequence[HistoryRow], trained: int = SETTLED) -> float:
    """The share of the proposed mutants after the `trained`-th trained search evaluation
    that trained a new program (nan if there are none)."""
    marked = iter(novelty(proposals))
    count, after = 0, []
    for row in proposals:
        if row.kind is EvalKind.SEARCH and row.mutant:
            _, new = next(marked)
            if count >= trained:
                after.append(new)
        count += row.kind is EvalKind.SEARCH and not row.cached
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
