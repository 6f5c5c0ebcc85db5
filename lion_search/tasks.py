"""Look up proxy tasks by name and schedule shape (the API the rest of lion-search uses)."""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

from lion_search.errors import TaskError
from proxy_tasks import SCHEDULES, TASK_BUILDERS, Task, make_schedule

DEFAULT_SCHEDULE = "warmup_cosine"


class TaskInfo(NamedTuple):
    """One row of ``lion-search tasks``: a task's size, and ``flops`` of one full training run."""

    name: str
    family: str
    scale: str
    n_params: int
    steps: int
    batch_size: int
    flops: float
    description: str


def task_names() -> list[str]:
    """All task names, grouped by family from small to large, synthetic tasks last."""
    return list(TASK_BUILDERS)


def schedule_names() -> list[str]:
    """All lr schedule shapes; the first is the default."""
    return list(SCHEDULES)


def get_task(name: str, schedule: str = DEFAULT_SCHEDULE, steps: int | None = None) -> Task:
    """The task ``name`` with the unit-peak lr schedule shape ``schedule``, trained for ``steps``
    steps (default: the task's own count; the schedule is stretched to the new length).

    Cached, so equal arguments, however passed, return the same ``Task`` object (and compiled
    training loops keyed on it are reused). Raises ``TaskError`` naming the bad value and the
    allowed ones.
    """
    return _cached_task(name, schedule, steps)


@functools.cache
def _cached_task(name: str, schedule: str, steps: int | None) -> Task:
    """``get_task`` with positional arguments only, so that its cache sees one key per task."""
    if name not in TASK_BUILDERS:
        raise TaskError(f"unknown task {name!r}; known tasks: {', '.join(task_names())}")
    if schedule not in SCHEDULES:
        raise TaskError(
            f"unknown schedule {schedule!r}; known schedules: {', '.join(schedule_names())}"
        )
    if steps is not None and steps < 1:
        raise TaskError(f"steps must be a positive integer, got {steps}")
    task = TASK_BUILDERS[name]()
    steps = task.steps if steps is None else steps
    if schedule == task.schedule_name and steps == task.steps:
        return task
    return dataclasses.replace(
        task, steps=steps, schedule=make_schedule(schedule, steps), schedule_name=schedule
    )


def task_table() -> list[TaskInfo]:
    """Size and cost of every task, in ``task_names()`` order."""
    rows = []
    for name in task_names():
        task = get_task(name)
        rows.append(
            TaskInfo(
                name=task.name,
                family=task.family,
                scale=task.scale,
                n_params=task.n_params,
                steps=task.steps,
                batch_size=task.batch_size,
                flops=task.flops_estimate,
                description=task.description,
            )
        )
    return rows
