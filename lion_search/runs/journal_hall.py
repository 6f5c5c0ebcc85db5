"""The journal's hall of fame (tables `hall` and `hall_progress`, journal_schema): the best
program of each (length, memory) cell, kept up to date by runs.hall_of_fame as results arrive."""
from __future__ import annotations

from typing import Sequence

from lion_search.runs.journal import RunStore


def hall_counted(store: RunStore) -> int:
    """The id of the last evaluation that the journaled hall of fame counts (0: none)."""
    row = store.db.execute("SELECT evaluation FROM hall_progress").fetchone()
    return row[0] if row else 0


def hall(store: RunStore) -> tuple[int, int, list[tuple]]:
    """The journaled hall of fame (runs.hall_of_fame): the last evaluation id it counts, the
    search evaluations up to it, and its cells as (length, memory, fitness, evaluation id,
    program id, kind, found_at, program text); (0, 0, []) before it is first written."""
    with store.writing("BEGIN"):     # the progress and the cells of one moment
        progress = store.db.execute("SELECT evaluation, searched FROM hall_progress").fetchone()
        cells = store.db.execute(
            "SELECT h.length, h.memory, h.fitness, h.evaluation, h.program, h.kind, "
            "h.found_at, p.text FROM hall h JOIN programs p ON p.id = h.program").fetchall()
    return (*progress, cells) if progress else (0, 0, [])


def save_hall(store: RunStore, counted: int, searched: int, cells: Sequence[tuple]) -> bool:
    """Journal the hall of fame as counting every evaluation up to id `counted` (of which
    `searched` search evaluations), with the `cells` that changed, each (length, memory,
    fitness, evaluation id, program id, kind, found_at). A cell keeps the better of its
    journaled and its new program (lower fitness, then earlier evaluation), so that two
    processes that save at once lose nothing. Nothing is written when the journal's hall
    counts as far already; returns whether it was written (in one transaction)."""
    with store.writing("BEGIN IMMEDIATE"):
        if hall_counted(store) >= counted:
            return False
        store.db.executemany(
            "INSERT INTO hall (length, memory, fitness, evaluation, program, kind, found_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (length, memory) DO UPDATE SET "
            "fitness = excluded.fitness, evaluation = excluded.evaluation, "
            "program = excluded.program, kind = excluded.kind, found_at = excluded.found_at "
            "WHERE (excluded.fitness, excluded.evaluation) < (hall.fitness, hall.evaluation)",
            cells)
        store.db.execute("INSERT OR REPLACE INTO hall_progress (id, evaluation, searched) "
                        "VALUES (1, ?, ?)", (counted, searched))
    return True
