"""The run folders under a root (`runs/` by default): budget, progress, best fitness and state.

Reads each journal without writing to it, so it lists runs that a live search is writing.
"""
from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path
from typing import Any, NamedTuple

from lion_search.language.errors import JournalDamaged, LionSearchError, RunError
from lion_search.runs.journal import JOURNAL, EvalKind, RunStore


class RunInfo(NamedTuple):
    """One run folder. state: running | finished | stopped | interrupted, 'damaged' (a journal
    file SQLite reads as malformed: `lion-search salvage` recovers its readable rows) or
    'unreadable' (a journal that cannot be read otherwise); `error` then says why.
    best_fitness is +inf when nothing has a finite fitness yet; created is a Unix time."""

    path: Path
    task: str | None
    budget: int | None
    trained: int
    best_fitness: float
    state: str
    created: float
    cache_hits: int = 0
    latest: bool = False      # the run that <root>/latest points to
    error: str = ""


def run_info(folder: str | Path) -> RunInfo:
    """The RunInfo of one run folder (RunError if it is not one)."""
    folder = Path(folder)
    store = RunStore.open(folder)
    try:
        config = store.config
        trained = store.count(EvalKind.SEARCH, cached=False)
        hits = store.count(EvalKind.SEARCH, cached=True)
        # the best by proxy fitness (over the most training seeds); before any child with a
        # finite fitness, the seeds'
        top = store.best(1) or store.best(1, EvalKind.SEED)
        best = top[0][1].fitness if top else None
        created = float(store.value("created") or folder.stat().st_mtime)
        return RunInfo(folder, config.get("task"), config.get("budget"), trained,
                       math.inf if best is None else best, store.state(), created, hits)
    except sqlite3.Error as err:
        raise RunError(f"cannot read run journal in {str(folder)!r}: {err}") from None
    finally:
        store.close()


def list_runs(root: str | Path = "runs") -> list[RunInfo]:
    """Every run folder directly under `root` (those holding a journal), oldest first. A link
    such as `runs/latest` is not listed twice: the run it points to is marked `latest`. A folder
    whose journal cannot be read is listed with state 'unreadable'. A missing root: []."""
    root = Path(root)
    if not root.is_dir():
        return []
    latest = root / "latest"
    latest_target = latest.resolve() if latest.is_symlink() else None
    infos, seen = [], set()
    # Real folders first, then links to runs not listed yet (kept under the link's name).
    for entry in sorted(root.iterdir(), key=lambda e: (e.is_symlink(), e.name)):
        if not (entry / JOURNAL).is_file():
            continue
        real = entry.resolve()
        if real in seen:
            continue
        seen.add(real)
        try:
            info = run_info(entry)
        except LionSearchError as err:
            info = RunInfo(entry, None, None, 0, math.inf,
                           "damaged" if isinstance(err, JournalDamaged) else "unreadable",
                           entry.stat().st_mtime, error=str(err))
        infos.append(info._replace(latest=real == latest_target))
    return sorted(infos, key=lambda i: (i.created, str(i.path)))


def runs_table(infos: list[RunInfo], title: str = "runs"):
    """A rich Table of the runs for the terminal (newest last)."""
    from rich.table import Table
    from rich.text import Text  # plain text: a folder name may hold [brackets]

    table = Table(title=title)
    for column in ("run", "task", "progress", "best fitness", "cache hits", "state", "started"):
        table.add_column(column, justify="left" if column in ("run", "task", "state") else "right")
    for i in infos:
        progress = f"{i.trained}/{i.budget}" if i.budget else str(i.trained)
        if i.budget:
            progress += f" ({100 * i.trained / i.budget:.0f}%)"
        table.add_row(Text(str(i.path) + (" (latest)" if i.latest else "")), Text(i.task or ""),
                      progress if not i.error else "",
                      f"{i.best_fitness:.4g}" if math.isfinite(i.best_fitness) else "",
                      str(i.cache_hits) if not i.error else "",
                      Text(i.state if not i.error or i.state == "damaged"
                           else f"unreadable: {i.error}"),
                      time.strftime("%Y-%m-%d %H:%M", time.localtime(i.created)))
    if any(i.state == "damaged" for i in infos):
        table.caption = ("damaged: a journal SQLite reads as malformed; `lion-search salvage RUN` "
                         "copies its readable programs and evaluations into a new run folder")
    return table


def _number(x: float) -> float | None:
    return x if math.isfinite(x) else None


def runs_json(infos: list[RunInfo]) -> list[dict[str, Any]]:
    """JSON-ready rows (an infinite best fitness is null; progress is trained / budget)."""
    return [{"path": str(i.path), "task": i.task, "budget": i.budget, "trained": i.trained,
             "progress": i.trained / i.budget if i.budget else None,
             "cache_hits": i.cache_hits, "best_fitness": _number(i.best_fitness),
             "state": i.state, "created": i.created, "latest": i.latest,
             **({"error": i.error} if i.error else {})} for i in infos]
