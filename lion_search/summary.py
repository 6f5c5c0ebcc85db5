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


def run_best(store: RunStore) -> ProgramRow | None:
    """The run's best program: the best by promoted score where one was promoted, else the
    best by proxy fitness (None before any evaluation)."""
    top = store.best(1, "promoted") or store.best(1)
    return top[0][0] if top else None


def run_program(folder: Path, ref: str) -> tuple[ProgramRow, float]:
    """A program of a run by id, or its best ('best'), with its best proxy fitness."""
    store = RunStore.open(folder)
    try:
        row = run_best(store) if ref == "best" else store.program(int(ref))
        if row is None:
            raise RunError(f"run {str(folder)!r} has no evaluated program yet")
        fitness = store.best_fitness([row.id], ("search", "seed", "calibration", "simplified"))
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
    promoted = store.best_fitness([row.id for row, _ in best], ("promoted",))
    hit_counts = _cache_hits_by_hash(store)
    rows = []
    for program_row, evaluation in best:
        program = parse_program(program_row.text)
        rows.append({
            "id": program_row.id, "fitness": json_number(evaluation.fitness),
            "was_promoted": program_row.id in promoted,
            "promoted": json_number(promoted.get(program_row.id, math.inf)),
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
        "references": store.value("references", []),
        "promotion": {"tasks": promotion_tasks(store),
                      "references": store.value("promotion_references", []),
                      "promoted": store.count("promoted")},
        "best": _best_json(store),
        "top": rows,
    }


def promotion_tasks(store: RunStore) -> list[str]:
    """The tasks programs of this run were promoted to (empty before the first promotion)."""
    return [r["task"] for r in store.value("promotion_references", [])]


def _best_json(store: RunStore) -> dict[str, Any] | None:
    """The run's best (see run_best) with its proxy fitness and promoted score."""
    row = run_best(store)
    if row is None:
        return None
    fitness = store.best_fitness([row.id], ("search", "seed")).get(row.id, math.inf)
    promoted = store.best_fitness([row.id], ("promoted",)).get(row.id)
    return {"id": row.id, "fitness": json_number(fitness),
            "promoted": None if promoted is None else json_number(promoted),
            "by": "promoted score" if promoted is not None else "proxy fitness",
            "program": row.text, "simplified": simplified_text(store, row.id)}


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
