"""The estimated flops of one full training run on a task, kept on disk by code version.

A deterministic search counts the work of its trainings in estimated flops (`search.jobs`):
for task T, F(T) = steps * F(value_and_grad loss) + F(val_loss), F being XLA's static cost
analysis of the lowered computation (`proxy_tasks.base.Task.flops_estimate`). Lowering a task's
loss and its gradient traces the model, which took the search thread about 5 s over the four
tasks of a default main job, in every run (BENCHMARKS.md, section 18.7). F(T) of a built-in
task depends only on the code, so it is kept in FLOPS under `traced.code_version` and read back
by later processes; a user's task, whose code is not in that version, is estimated in each
process.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from lion_search.evaluation import traced
from lion_search.evaluation.tasks import get_task, is_user_task

FLOPS = Path.home() / ".cache" / "lion-search" / "flops"


@functools.cache
def task_flops(task: str) -> int:
    """F(`task`), rounded: read from FLOPS (or $LION_SEARCH_FLOPS) for a built-in task
    estimated by an earlier process of this code, else estimated (and kept)."""
    if is_user_task(task):
        return _estimate(task)
    path = Path(os.environ.get("LION_SEARCH_FLOPS", FLOPS)) / f"{traced.code_version()}.json"
    kept = _read(path)
    if task not in kept:
        flops = _estimate(task)
        # Read again: a process beside this one may have kept other tasks meanwhile.
        kept = {**_read(path), task: flops}
        traced.write_kept(path, json.dumps(kept, sort_keys=True).encode())
    return kept[task]


def _estimate(task: str) -> int:
    return round(get_task(task).flops_estimate)


def _read(path: Path) -> dict[str, int]:
    """The kept counts ({} where there is no file, or a damaged one: they are estimated
    again)."""
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in kept.items() if isinstance(v, int)} if isinstance(kept, dict) else {}
