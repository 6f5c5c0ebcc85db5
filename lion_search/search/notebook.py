"""`evolve`: a whole search in one call, the notebook form of `lion-search evolve`."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from lion_search.language.errors import LionSearchError
from lion_search.runs.journal import RunStore, link_latest, new_run_folder
from lion_search.runs.lock import hold
from lion_search.search.config import EvolveConfig
from lion_search.search.evolution import Search
from lion_search.search.pools import start_pool


def evolve(out: str | Path | None = None, time_limit: float | None = None,
           **settings) -> Path:
    """Run a search to its budget (or `time_limit` seconds) and return its run folder: the
    notebook form of `lion-search evolve`. `settings` are EvolveConfig fields, for example
    ``evolve(budget=500, task="digits-mlp", seed_programs=("sgd",), workers=1)``; `out` is the
    run folder (default runs/<timestamp>, linked from runs/latest), whose writer lock it holds
    throughout (runs/lock.py)."""
    known = {f.name for f in dataclasses.fields(EvolveConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise LionSearchError(f"unknown search setting(s) {', '.join(unknown)}; allowed: "
                              f"{', '.join(sorted(known))}")
    config = EvolveConfig(**settings)
    config.check()
    folder = Path(out) if out else new_run_folder()
    store = RunStore.create(folder, config.to_json())
    try:
        lock = hold(folder, "lion_search.evolve()")
    except LionSearchError:
        store.close()
        raise
    search = Search(store, config, pool=start_pool(config))
    link_latest(folder)
    state = "interrupted"
    try:
        store.set_state("running")
        search.setup()
        search.load()
        stats = search.run(time_limit)
        state = "finished" if stats.trained >= config.budget else "stopped"
    finally:
        try:
            search.close()
            store.set_state(state)
            store.close()
        finally:
            lock.release()      # a notebook's process lives on: let the run be resumed
    return folder
