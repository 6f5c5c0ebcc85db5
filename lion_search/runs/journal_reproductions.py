"""The journal's reproductions: search evaluations trained at an lr factor (a program trained
again on the first seed of its fingerprint at a nudged learning rate, `search.retraining`),
each beside the run on that seed at the program's own learning rate."""
from __future__ import annotations

import json
from typing import NamedTuple

from lion_search.runs.journal import RunStore


class Reproduction(NamedTuple):
    """Program `program`'s score on `seed` (a paired log ratio) at its own learning rate, and
    again at `lr_factor` times it."""

    program: int
    seed: int
    lr_factor: float
    score: float
    repeat: float


def reproductions(store: RunStore) -> list[Reproduction]:
    """Every reproduction that trained (status ok) with the first run of its fingerprint on
    the same seed (a seed program's is its seed evaluation), in journal order."""
    rows = store.db.execute(
        "SELECT r.id, r.program, r.lr_factor, r.per_seed, o.per_seed "
        "FROM evaluations r JOIN programs pr ON pr.id = r.program "
        "JOIN programs po ON po.fingerprint = pr.fingerprint "
        "JOIN evaluations o ON o.program = po.id "
        "WHERE r.kind = 'search' AND r.lr_factor IS NOT NULL AND r.per_seed IS NOT NULL "
        "AND o.kind IN ('search', 'seed') AND o.lr_factor IS NULL AND o.per_seed IS NOT NULL "
        "AND o.cached = 0 ORDER BY r.id, o.id").fetchall()
    found: dict[int, Reproduction] = {}
    for eid, program, factor, repeated, original in rows:
        (seed, repeat), = json.loads(repeated).items()
        scores = json.loads(original)
        if eid not in found and seed in scores:
            found[eid] = Reproduction(program, int(seed), factor, scores[seed], repeat)
    return list(found.values())
