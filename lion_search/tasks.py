"""Look up proxy tasks by name and schedule shape (the API the rest of lion-search uses)."""

from __future__ import annotations

import dataclasses
import functools
import numbers
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


def get_task(name: str, schedule: str = DEFAULT_SCHEDULE, steps: int | None = None,
             batch_size: int | None = None) -> Task:
    """The task ``name`` with the unit-peak lr schedule shape ``schedule``, trained for ``steps``
    steps (default: the task's own count; the schedule is stretched to the new length) on
    batches of ``batch_size`` examples (default: the task's own; the digits and text-lm
    families only). A variant keeps the task's ``name``; its ``steps``, ``batch_size`` and
    ``description`` (which names the batch) are the variant's.

    Cached, so equal arguments, however passed (a step count or batch size equal to the task's
    own included), return the same ``Task`` object (and compiled training loops keyed on it are
    reused). Raises ``TaskError`` naming the bad value and the allowed ones.
    """
    if name not in TASK_BUILDERS:
        raise TaskError(f"unknown task {name!r}; known tasks: {', '.join(task_names())}")
    if schedule not in SCHEDULES:
        raise TaskError(
            f"unknown schedule {schedule!r}; known schedules: {', '.join(schedule_names())}"
        )
    steps, batch_size = (_positive_int(what, value) for what, value in
                         (("steps", steps), ("batch size", batch_size)))
    base = TASK_BUILDERS[name]()
    if steps == base.steps:
        steps = None
    if batch_size == base.batch_size:
        batch_size = None
    return _cached_task(name, schedule, steps, batch_size)


def _positive_int(what: str, value: object) -> int | None:
    """``value`` as a plain int (so cache keys compare equal), or None; TaskError unless it is
    None or a positive integer."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise TaskError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


@functools.cache
def _cached_task(name: str, schedule: str, steps: int | None, batch_size: int | None) -> Task:
    """``get_task`` with validated, normalized positional arguments (None: the task's own), so
    that its cache sees one key per task."""
    try:
        task = TASK_BUILDERS[name]() if batch_size is None else TASK_BUILDERS[name](batch_size)
    except ValueError as e:
        raise TaskError(f"task {name!r}: {e}") from None
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
