"""What a run holds, for people and for scripts: summaries of run folders and RUN:ID lookups."""
from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from lion_search.errors import RunError
from lion_search.language import Program, parse_program
from lion_search.shapes import memory_cost
from lion_search.store import JOURNAL, ProgramRow, RunStore, resolve_run

_RUN_REF = re.compile(r"^(?P<run>.+):(?P<id>\d+|best)$")


def split_run_ref(text: str) -> tuple[Path, str] | None:
    """('runs/x', '17') for 'runs/x:17' or 'runs/x:best' unless a file is named so (then None,
    as for any other text). runs/x need not be a run folder: reading from it says why not."""
    match = _RUN_REF.match(text)
    if not match or Path(text).exists():
        return None
    return resolve_run(match["run"]), match["id"]


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


def program_name(folder: Path, program_id: int) -> str:
    """A Python name for program `program_id` of the run in `folder`: the folder's name and the
    id ('default_digits_232'), prefixed with 'run_' where the name starts otherwise than with a
    letter ('run_2025_11_21_16_40_05_232')."""
    name = re.sub(r"[^0-9A-Za-z]+", "_", Path(folder).resolve().name).strip("_")
    return f"{name}_{program_id}" if name[:1].isalpha() else f"run_{name}_{program_id}".replace(
        "__", "_")


class ExportForm(NamedTuple):
    """What `lion-search export RUN:ID` writes: the program, named after the run, without its
    calibration `lr = c * lr`; the learning rate that reproduces the search's (c) and why; and
    which form of the program it is."""

    program: Program
    learning_rate: float
    why: str
    form: str


def export_form(folder: Path, ref: str, raw: bool = False) -> ExportForm:
    """The export of program `ref` ('17' or 'best') of a run: its newest simplified form saved
    by `lion-search simplify`, else its exact simplification (dead code and rewrite rules, no
    training); with `raw`, the program as the search journaled it."""
    from lion_search.calibrate import unscale_lr
    from lion_search.simplify import rewrite

    store = RunStore.open(folder)
    try:
        row = run_best(store) if ref == "best" else store.program(int(ref))
        if row is None:
            raise RunError(f"run {str(folder)!r} has no evaluated program yet")
        simplified = simplified_text(store, row.id)
        schedule = store.config.get("schedule", "warmup_cosine")
    finally:
        store.close()
    if raw:
        program, form = parse_program(row.text), f"#{row.id} as the search journaled it"
    elif simplified is not None:
        program, form = parse_program(simplified), f"#{row.id} as `lion-search simplify` saved it"
    else:
        program, form = rewrite(parse_program(row.text))[0], (
            f"#{row.id} without dead code, by exact rewrite rules (`lion-search simplify` also "
            "ablates on the proxy)")
    program, scale = unscale_lr(program)
    return ExportForm(replace(program, name=program_name(folder, row.id)), scale,
                      f"the peak lr of the search's {schedule} schedule", form)


def format_delta(fitness: float, seed: float, relative: bool) -> str:
    """A fitness against the seed's (negative is better), the same wherever it is shown: a
    percentage of a loss, or for a portfolio's fitness (already a mean log ratio) the
    difference; small changes keep two significant digits ('-0.012%', not '-0.0%')."""
    if not (math.isfinite(fitness) and math.isfinite(seed)) or (seed == 0 and not relative):
        return ""
    if relative:
        return f"{fitness - seed:+.3g} vs seed"
    percent = 100 * (fitness - seed) / abs(seed)
    return f"{percent:+.1f}% vs seed" if abs(percent) >= 0.1 else f"{percent:+.2g}% vs seed"


def is_relative(store: RunStore) -> bool:
    """Whether the run's fitness is a portfolio's mean log ratio (it has reference losses)."""
    return bool(store.value("references"))


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
    relative = is_relative(store)
    rows = []
    for program_row, evaluation in best:
        program = parse_program(program_row.text)
        rows.append({
            "id": program_row.id, "fitness": json_number(evaluation.fitness),
            "was_promoted": program_row.id in promoted,
            "promoted": json_number(promoted.get(program_row.id, math.inf)),
            "delta": json_number(evaluation.fitness - seed_fitness),
            "vs_seed": format_delta(evaluation.fitness, seed_fitness, relative),
            "memory": memory_cost(program), "length": len(program),
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
        "startup": store.value("startup"),   # the latest session's (search.journal_startup)
        "seeds": [{"name": s["name"], "fitness": json_number(s["fitness"]),
                   "lr_scale": s["lr_scale"], "id": s["id"]} for s in seeds],
        "references": store.value("references", []),
        "promotion": {"tasks": promotion_tasks(store),
                      # runs journaled before the score had a rule were scored by the mean
                      "score": config.get("promote_score", "mean"),
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
    from lion_search.lr_check import lr_warning

    simplified = simplified_text(store, row.id)
    return {"id": row.id, "fitness": json_number(fitness),
            "promoted": None if promoted is None else json_number(promoted),
            "by": "promoted score" if promoted is not None else "proxy fitness",
            "program": row.text, "simplified": simplified,
            "lr_warning": lr_warning(parse_program(simplified or row.text))}


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
