"""What a run holds, for people and for scripts: summaries of run folders and RUN:ID lookups."""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from lion_search.errors import RunError
from lion_search.language import parse_program
from lion_search.store import JOURNAL, ProgramRow, RunStore, resolve_run

_RUN_REF = re.compile(r"^(?P<run>.+):(?P<id>\d+|best)$")


def split_run_ref(text: str) -> tuple[Path, str] | None:
    """('runs/x', '17') for 'runs/x:17' or 'runs/x:best' when runs/x is a run folder, else None."""
    match = _RUN_REF.match(text)
    if not match:
        return None
    folder = resolve_run(match["run"])
    return (folder, match["id"]) if (folder / JOURNAL).is_file() else None


def is_run(text: str) -> bool:
    """Whether `text` names a run folder."""
    return (resolve_run(text) / JOURNAL).is_file()


def run_program(folder: Path, ref: str) -> tuple[ProgramRow, float]:
    """A program of a run by id, or its best ('best'), with its best search fitness."""
    store = RunStore.open(folder)
    try:
        if ref == "best":
            top = store.best(1)
            if not top:
                raise RunError(f"run {str(folder)!r} has no evaluated program yet")
            return top[0][0], top[0][1].fitness
        row = store.program(int(ref))
        fitness = store.best_fitness([row.id], ("search", "seed", "calibration"))
        return row, fitness.get(row.id, math.inf)
    finally:
        store.close()


def json_number(x: float) -> float | None:
    """JSON has no infinity: the worst fitness is written as null."""
    return x if math.isfinite(x) else None


def summarize(store: RunStore, top: int = 10) -> dict[str, Any]:
    """The run's state, counts, seeds, best program and top programs."""
    config = store.config
    seeds = store.value("seeds", [])
    seed_fitness = min((s["fitness"] for s in seeds), default=math.inf)
    trained = store.count("search", cached=False)
    hits = store.count("search", cached=True)
    best = store.best(top)
    hit_counts = _cache_hits_by_hash(store)
    rows = []
    for program_row, evaluation in best:
        program = parse_program(program_row.text)
        rows.append({
            "id": program_row.id, "fitness": json_number(evaluation.fitness),
            "delta": json_number(evaluation.fitness - seed_fitness),
            "memory": program.memory_cost, "length": len(program),
            "evaluation": _ordinal(store, evaluation.id),
            "cache_hits": hit_counts.get(program_row.hash, 0), "program": program_row.text})
    first, last = store.db.execute("SELECT MIN(created), MAX(created) FROM evaluations WHERE "
                                   "kind = 'search' AND cached = 0").fetchone()
    seconds = (last - first) if first is not None and last > first else 0.0
    return {
        "run": str(store.folder), "state": store.state(), "task": config.get("task"),
        "budget": config.get("budget"), "workers": config.get("workers"),
        "evaluations": trained, "cache_hits": hits,
        "cache_hit_rate": hits / (trained + hits) if trained + hits else 0.0,
        "search_seconds": seconds,
        "evaluations_per_second": trained / seconds if seconds else None,
        "seeds": [{"name": s["name"], "fitness": json_number(s["fitness"]),
                   "lr_scale": s["lr_scale"], "id": s["id"]} for s in seeds],
        "best": ({"id": rows[0]["id"], "fitness": rows[0]["fitness"],
                  "program": rows[0]["program"],
                  "simplified": simplified_text(store, rows[0]["id"])} if rows else None),
        "top": rows,
    }


def simplified_text(store: RunStore, program_id: int) -> str | None:
    """The newest simplified version of a program (saved by `lion-search simplify`), if any."""
    row = store.db.execute("SELECT text FROM programs WHERE origin = 'simplified' AND parent = ? "
                           "ORDER BY id DESC LIMIT 1", (program_id,)).fetchone()
    return row[0] if row else None


def _ordinal(store: RunStore, evaluation_id: int) -> int:
    """How many search evaluations had been journaled when this one was (1-based)."""
    return int(store.db.execute("SELECT COUNT(*) FROM evaluations WHERE kind = 'search' "
                                "AND id <= ?", (evaluation_id,)).fetchone()[0])


def _cache_hits_by_hash(store: RunStore) -> dict[str, int]:
    rows = store.db.execute("SELECT p.hash, COUNT(*) FROM evaluations e JOIN programs p ON "
                            "p.id = e.program WHERE e.cached = 1 GROUP BY p.hash").fetchall()
    return dict(rows)
