"""The hall of fame: the best program at each (length, memory cost), and the Pareto front.

A program's length is its number of IR instructions and its memory cost what its memory slots
store, in parameter-sized copies (`shapes.memory_cost`), which takes parsing its text. So the
hall is kept up to date incrementally and journaled (the tables `hall` and `hall_progress`):
each call reads the journaled hall (once per process, or again when another process has
journaled it further) and then only the evaluations journaled since (SQL, best per program
text, so a text seen many times is parsed once); `write_hall_of_fame` journals what changed.
The search writes it every few dozen evaluations, so a reader of a journal of hundreds of
thousands of programs parses the few programs evaluated since, not all of them. A journal
written before the hall was journaled (or salvaged: the hall is not copied) has its hall
computed once, by its first `write_hall_of_fame` (its next resumed search, or `report`).

`RUN/hall_of_fame.csv` (written atomically: a reader never sees half a file) has columns
    id, fitness, memory, length, found_at, pareto, program
found_at is the ordinal of the search evaluation that found the program (0: a seed), pareto is 1
for programs on the front of (fitness, memory, length), all lower is better.
"""
from __future__ import annotations

import csv
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from lion_search.language.errors import LionSearchError
from lion_search.language.parser import parse_program
from lion_search.language.shapes import memory_cost
from lion_search.runs import journal_hall
from lion_search.runs.journal import EvalKind, RunStore

HALL_OF_FAME = "hall_of_fame.csv"
COLUMNS = ("id", "fitness", "memory", "length", "found_at", "pareto", "program")
HALL_KINDS = (EvalKind.SEARCH, EvalKind.SEED, EvalKind.SIMPLIFIED)   # what the hall ranks


class HallEntry(NamedTuple):
    """The best program of one (length, memory) cell; `evaluation` is the 1-based ordinal of the
    search evaluation that found it (0 for a seed); `on_front`: not dominated by another entry."""

    id: int
    fitness: float
    memory: float
    length: int
    evaluation: int
    on_front: bool
    program: str


@dataclass
class _Hall:
    """One journal's hall, brought up to date by `_update`: each cell's best as (fitness,
    evaluation id, program id, kind, text, found_at)."""

    last_id: int = 0                                    # evaluations up to this id are counted
    searched: int = 0                                   # search evaluations with id <= last_id
    cells: dict[tuple[int, float], tuple] = field(default_factory=dict)
    shapes: dict[str, tuple[int, float]] = field(default_factory=dict)   # text -> (length, memory)
    unsaved: set[tuple[int, float]] = field(default_factory=set)  # cells changed, not journaled


def _journaled(store: RunStore, shapes: dict[str, tuple[int, float]]) -> _Hall:
    """The hall as the journal holds it (empty before it is first written)."""
    last_id, searched, rows = journal_hall.hall(store)
    return _Hall(last_id, searched, {(length, memory): (fitness, eid, program, kind, text, found)
                                     for length, memory, fitness, eid, program, kind, found, text
                                     in rows}, shapes)


_HALLS: dict[tuple[str, str], _Hall] = {}


def _shape(hall: _Hall, text: str) -> tuple[int, float] | None:
    shape = hall.shapes.get(text)
    if shape is None:
        try:
            program = parse_program(text)
        except LionSearchError:
            return None
        if len(hall.shapes) >= 50_000:        # old texts rarely come back; bound the memory
            hall.shapes.clear()
        shape = hall.shapes[text] = (len(program), round(memory_cost(program), 4))
    return shape


def _update(store: RunStore) -> _Hall:
    key = (str(store.folder.resolve()), str(store.value("created", "")))
    hall = _HALLS.get(key)
    if hall is None or journal_hall.hall_counted(store) > hall.last_id:
        # Another process journaled it further (what this one had not saved, it counts too).
        hall = _HALLS[key] = _journaled(store, hall.shapes if hall else {})
    # Everything up to `top` is committed and never changes (one writer, append-only ids), so
    # bounding every query by it gives a consistent view without holding a read transaction.
    top = store.last_evaluation_id()
    if top <= hall.last_id:
        return hall
    # The best evaluation of each distinct text among the new ones (earliest on ties).
    rows = store.best_by_text(HALL_KINDS, hall.last_id, top)
    changed: dict[tuple[int, float], tuple] = {}
    for text, fitness, eid, program, kind in rows:
        shape = _shape(hall, text)
        if shape is None:
            continue
        entry = (fitness, eid, program, kind, text)
        best = changed.get(shape) or hall.cells.get(shape)
        if best is None or (fitness, eid) < (best[0], best[1]):
            changed[shape] = entry
    # Ordinals of the new cell winners: their rank among search evaluations.
    wanted = [e[1] for e in changed.values() if e[3] == EvalKind.SEARCH]
    ordinals = {eid: hall.searched + n for eid, n in
                store.positions(wanted, EvalKind.SEARCH, hall.last_id, top).items()}
    for shape, (fitness, eid, program, kind, text) in changed.items():
        hall.cells[shape] = (fitness, eid, program, kind, text, ordinals.get(eid, 0))
    hall.unsaved.update(changed)
    hall.searched += store.count(EvalKind.SEARCH, after=hall.last_id, upto=top)
    hall.last_id = top
    return hall


def _dominates(a: HallEntry, b: HallEntry) -> bool:
    return (a.fitness <= b.fitness and a.memory <= b.memory and a.length <= b.length
            and (a.fitness, a.memory, a.length) != (b.fitness, b.memory, b.length))


def pareto_front(store: RunStore) -> list[HallEntry]:
    """The best evaluated program (search children, seeds and simplified programs; failed runs
    left out) of each
    (length, memory) cell, sorted by length then memory, each marked whether it is on the Pareto
    front of (fitness, memory, length). Reads only the journal."""
    hall = _update(store)
    entries = [HallEntry(program, fitness, memory, length, ordinal, False, text)
               for (length, memory), (fitness, _, program, _, text, ordinal)
               in hall.cells.items() if math.isfinite(fitness)]
    entries = [e._replace(on_front=not any(_dominates(o, e) for o in entries)) for e in entries]
    return sorted(entries, key=lambda e: (e.length, e.memory))


def hall_json(entries: list[HallEntry]) -> list[dict]:
    """JSON-ready entries."""
    return [{"id": e.id, "fitness": e.fitness, "memory": e.memory, "length": e.length,
             "found_at": e.evaluation, "pareto": e.on_front, "program": e.program}
            for e in entries]


def write_hall_of_fame(store: RunStore, path: str | Path | None = None) -> Path:
    """Journal the hall of fame's changes since it was last journaled, and write it as CSV
    (default RUN/hall_of_fame.csv), atomically: a temporary file in the same folder, then
    os.replace. Returns the path."""
    path = Path(path) if path is not None else store.folder / HALL_OF_FAME
    hall = _update(store)
    cells = [(length, memory, fitness, eid, program, kind, found)
             for (length, memory), (fitness, eid, program, kind, _, found)
             in ((shape, hall.cells[shape]) for shape in sorted(hall.unsaved))]
    journal_hall.save_hall(store, hall.last_id, hall.searched, cells)
    hall.unsaved.clear()
    entries = pareto_front(store)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            for e in entries:
                writer.writerow((e.id, repr(e.fitness), e.memory, e.length, e.evaluation,
                                 int(e.on_front), e.program))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_hall_of_fame(path: str | Path) -> list[HallEntry]:
    """Read a hall_of_fame.csv back."""
    with open(path, newline="") as f:
        return [HallEntry(int(r["id"]), float(r["fitness"]), float(r["memory"]), int(r["length"]),
                          int(r["found_at"]), r["pareto"] == "1", r["program"])
                for r in csv.DictReader(f)]
