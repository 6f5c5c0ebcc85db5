"""Twins in the journal: programs that trained to the same loss on the same run, to the last
bit (`dedup.score_keys`), which the search files under one record (`search.instances`).

The table `twins` maps a twin's fingerprint to its record's, and the trigger that keeps
`proxy_fingerprints` follows it (schema version 7), so the best programs list a record once,
with its newest fitness, whichever of its programs trained last."""
from __future__ import annotations

import json
from typing import Mapping, Sequence

from lion_search.evaluation.results import Status
from lion_search.runs.journal import RunStore
from lion_search.runs.journal_schema import PROXY_KINDS


def add_twin(store: RunStore, fingerprint: str, twins: Mapping[str, str]) -> None:
    """Journal that the programs of `fingerprint` are filed under the record `twins` maps it
    to, if it maps it (before their evaluations are added: the trigger reads it then)."""
    if fingerprint in twins:
        with store.writing():
            store.db.execute("INSERT OR IGNORE INTO twins VALUES (?, ?)",
                             (fingerprint, twins[fingerprint]))


def records(store: RunStore) -> dict[str, str]:
    """Each twin's fingerprint and its record's."""
    return dict(store.db.execute("SELECT fingerprint, record FROM twins"))


def trained_scores(store: RunStore, ids: Sequence[int]) -> dict[int, dict[int, float]]:
    """Each program's paired scores by training seed on the proxy: those of the trainings (not
    the cache hits, nor the runs again at a nudged lr) of every program filed under its record,
    its fingerprint's and its twins' (`search.instances` pools them); programs never trained
    are left out."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    out: dict[int, dict[int, float]] = {}
    for pid, per_seed in store.db.execute(
            "WITH record(id, key) AS (SELECT q.id, COALESCE(t.record, q.fingerprint) "
            "  FROM programs q LEFT JOIN twins t ON t.fingerprint = q.fingerprint "
            f"  WHERE q.id IN ({marks})), "
            "members(id, fingerprint) AS (SELECT id, key FROM record UNION "
            "  SELECT record.id, t.fingerprint FROM record JOIN twins t ON t.record = record.key) "
            # CROSS JOIN keeps this order: by program, not by a scan of the evaluations' kind
            "SELECT m.id, e.per_seed FROM members m "
            "CROSS JOIN programs p ON p.fingerprint = m.fingerprint "
            "CROSS JOIN evaluations e ON e.program = p.id "
            "WHERE e.kind IN (?, ?) AND e.cached = 0 "
            "AND e.lr_factor IS NULL AND e.status = ? AND e.per_seed IS NOT NULL "
            "ORDER BY e.id", (*ids, *PROXY_KINDS, Status.OK)):
        out.setdefault(pid, {}).update(
            (int(seed), float(score)) for seed, score in json.loads(per_seed).items())
    return out
