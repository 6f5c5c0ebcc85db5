"""Which children a search counts as one program: the tensors its fingerprint declares
(`analysis.dedup.equivalence_runs`). Pure Python, so that `show` reads a run's setting
without importing JAX."""
from __future__ import annotations

from enum import StrEnum


class Equivalence(StrEnum):
    """Which tensors a search's fingerprint declares, so which children it counts as one.

    RUN: those of every task the run trains on (search, screen, promotion), each at its
    task's length T. Programs that differ only on a static branch that no such tensor takes,
    or on a length no task has, train alike wherever the run trains them, so they share one
    record, and its seeds, rather than each drawing its own luck (5% to 15% of three 15-minute
    runs' trainings were such copies: BENCHMARKS.md section 33).
    PROBES: FINGERPRINT_FACTS and FINGERPRINT_LENGTHS, which also tell apart branches for
    tensors of other shapes and other lengths; the key of runs journaled before RUN, which
    keep it."""

    RUN = "run"
    PROBES = "probes"
