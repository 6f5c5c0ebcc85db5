"""Look up proxy tasks by name and schedule shape (the API the rest of lion-search uses).

A task name is a built-in task (``digits-mlp``, ``quadratic``, ...; ``lion-search tasks``) or a
user's task: ``MODULE:FUNCTION`` (a module importable from ``sys.path`` or the current
directory) or ``path/to/file.py:FUNCTION``, where ``FUNCTION()`` returns a ``proxy_tasks.Task``.
A user's task is imported, built once per process and checked (one training step, jitted, on
finite numbers) before anything uses it; everything else treats it as it treats a built-in one.
Either kind of name may end in ``+flips``: the same task, each training seed flipping the signs
of its parameters' axes (``evaluation.flips``).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import numbers
import os
import site
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from lion_search.language.errors import TaskError
from lion_search.language.plan import tensor_facts
from proxy_tasks import SCHEDULES, TASK_BUILDERS, Task, make_schedule

DEFAULT_SCHEDULE = "warmup_cosine"
USER_TASK_FORMS = "MODULE:FUNCTION or path/to/file.py:FUNCTION"
FLIPS = "+flips"   # a task name's suffix: each training seed flips its parameters' axis signs


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
    if not is_task_name(name):
        raise TaskError(f"unknown task {name!r}; known tasks: {', '.join(task_names())}, "
                        f"or your own: {USER_TASK_FORMS}; either may end in {FLIPS}")
    if schedule not in SCHEDULES:
        raise TaskError(
            f"unknown schedule {schedule!r}; known schedules: {', '.join(schedule_names())}"
        )
    steps, batch_size = (_positive_int(what, value) for what, value in
                         (("steps", steps), ("batch size", batch_size)))
    if is_user_task(name) and batch_size is not None:
        raise TaskError(f"task {name!r}: a batch size can be set for built-in tasks only; "
                        "set batch_size in your task's own code")
    base_name = name.removesuffix(FLIPS)
    base = user_task(base_name) if is_user_task(base_name) else TASK_BUILDERS[base_name]()
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
    base = name.removesuffix(FLIPS)
    try:
        if is_user_task(base):
            task = user_task(base)
        else:
            task = TASK_BUILDERS[base]() if batch_size is None else TASK_BUILDERS[base](batch_size)
    except ValueError as e:
        raise TaskError(f"task {name!r}: {e}") from None
    steps = task.steps if steps is None else steps
    if schedule != task.schedule_name or steps != task.steps:
        task = dataclasses.replace(task, steps=steps, schedule=make_schedule(schedule, steps),
                                   schedule_name=schedule)
    return dataclasses.replace(task, name=name, flip_signs=True) if base != name else task


def tensor_facts_of(name: str) -> list[tuple[int, int, int]]:
    """The (rank, fan_in, fan_out) of each parameter tensor of a task (its static facts, which
    a program's static branches read; `language.plan`)."""
    leaves = jax.tree.leaves(get_task(name).param_shapes())
    return [tensor_facts(tuple(leaf.shape)) for leaf in leaves]


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


# ------------------------------------------------------------------------------ user tasks

def is_task_name(name: str) -> bool:
    """Whether ``name`` has the form of a task: a built-in one's name or a user's, with or
    without ``+flips`` (a user's is checked when it is built)."""
    base = name.removesuffix(FLIPS)
    return base in TASK_BUILDERS or is_user_task(base)


def is_user_task(name: str) -> bool:
    """Whether ``name`` names a user's task (``MODULE:FUNCTION``, ``path/to/file.py:FUNCTION``)
    rather than a built-in one (built-in names have no colon)."""
    return ":" in name


@functools.cache
def user_task(name: str) -> Task:
    """The user's task ``name`` (``MODULE:FUNCTION`` or ``path/to/file.py:FUNCTION``): imports
    the module, calls ``FUNCTION()`` and checks the ``Task`` it returns (``check_task``). Built
    once per process. Raises ``TaskError``, one line naming the task and what went wrong."""
    source, _, function = name.rpartition(":")
    if not source or not function:
        raise TaskError(f"task {name!r}: expected {USER_TASK_FORMS}")
    module = _import_task_module(name, source)
    make = getattr(module, function, None)
    if not callable(make):
        raise TaskError(f"task {name!r}: module {module.__name__!r} has no function {function!r}")
    try:
        task = make()
    except Exception as err:
        raise TaskError(f"task {name!r}: {function}() failed: {_one_line(err)}") from None
    if not isinstance(task, Task):
        raise TaskError(f"task {name!r}: {function}() returned {type(task).__name__}, not a "
                        "proxy_tasks.Task")
    check_task(task, name)
    return task


def _is_file_source(source: str) -> bool:
    """Whether the module part of a user task names a file (``.py``, or a path)."""
    return source.endswith(".py") or "/" in source or os.sep in source


def _import_task_module(name: str, source: str) -> ModuleType:
    """The module holding user task ``name``: a file (loaded as the module named by its stem;
    where the file is absent, as on a Ray worker that was sent it, the module of that name) or
    a module importable from ``sys.path`` or the current directory."""
    if _is_file_source(source):
        path = Path(source)
        if path.is_file():
            return _load_file(name, path.resolve())
        module_name = path.stem
    else:
        module_name = source
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if _is_file_source(source) and err.name == module_name:
            raise TaskError(f"task {name!r}: no file {source!r}") from None
        raise TaskError(f"task {name!r}: cannot import {module_name!r}: {_one_line(err)}") \
            from None
    except Exception as err:
        raise TaskError(f"task {name!r}: importing {module_name!r} failed: {_one_line(err)}") \
            from None


def _load_file(name: str, path: Path) -> ModuleType:
    """The Python file ``path`` as the module named by its stem (registered in ``sys.modules``;
    reused when that module is already this file)."""
    loaded = sys.modules.get(path.stem)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[path.stem]
        raise TaskError(f"task {name!r}: importing {str(path)!r} failed: {_one_line(err)}") \
            from None
    return module


def check_task(task: Task, name: str) -> None:
    """Raise ``TaskError`` (one line naming ``name``, the function and the fault) unless
    ``task`` can be trained: ``steps`` a positive int; ``init_params(key)`` a non-empty pytree of
    finite float32 arrays; ``get_batch(key, step)`` works on a traced int32 step; ``loss(params,
    batch)`` and ``val_loss(params[, data_key])`` finite scalars, the gradient finite; ``schedule(step)``
    finite for every step. Each function runs jitted, as training runs it."""
    if isinstance(task.steps, bool) or not isinstance(task.steps, int) or task.steps < 1:
        raise TaskError(f"task {name!r}: steps must be a positive int, got {task.steps!r}")
    for field in ("init_params", "loss", "get_batch", "val_loss", "schedule"):
        if not callable(getattr(task, field)):
            raise TaskError(f"task {name!r}: {field} must be a function, got "
                            f"{type(getattr(task, field)).__name__}")
    key = jax.random.PRNGKey(0)
    params = _call(name, "init_params(key)", task.init_params, key)
    leaves = jax.tree.leaves(params)
    if not leaves or not all(isinstance(x, jax.Array) and x.dtype == jnp.float32 for x in leaves):
        raise TaskError(f"task {name!r}: init_params(key) must return a non-empty pytree of "
                        f"float32 arrays, got {jax.tree.map(_describe, params)}")
    _check_finite(name, "init_params(key)", params)
    batch = _call(name, "get_batch(key, step)", task.get_batch, key, jnp.int32(0))
    _check_scalar(name, "loss(params, batch)",
                  _call(name, "loss(params, batch)", task.loss, params, batch))
    _check_finite(name, "the gradient of loss(params, batch)",
                  _call(name, "the gradient of loss(params, batch)", jax.grad(task.loss),
                        params, batch))
    _check_scalar(name, "val_loss(params)",
                  _call(name, "val_loss(params)", task.val_loss, params, key))
    lrs = _call(name, "schedule(step)", jax.vmap(task.schedule), jnp.arange(task.steps))
    _check_finite(name, f"schedule(step) for steps 0..{task.steps - 1}", lrs)


def _call(name: str, what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` jitted; a failure is a one-line ``TaskError`` naming ``what`` failed."""
    try:
        return jax.block_until_ready(jax.jit(fn)(*args))
    except Exception as err:
        raise TaskError(f"task {name!r}: {what} failed: {_one_line(err)}") from None


def _check_scalar(name: str, what: str, value: Any) -> None:
    """``TaskError`` unless ``value`` is a finite scalar array."""
    if not isinstance(value, jax.Array) or value.shape != ():
        raise TaskError(f"task {name!r}: {what} must be a scalar, got {_describe(value)}")
    _check_finite(name, what, value)


def _check_finite(name: str, what: str, tree: Any) -> None:
    """``TaskError`` unless every leaf of ``tree`` is finite."""
    if not all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(tree)):
        raise TaskError(f"task {name!r}: {what} is not finite (NaN or Inf)")


def _describe(value: Any) -> str:
    """An array as ``dtype[shape]``, anything else as its type name."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{value.dtype}{list(value.shape)}"
    return type(value).__name__


def _one_line(err: BaseException) -> str:
    """An exception as ``Type: first line of its message``."""
    lines = [line for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[0].strip()}" if lines else type(err).__name__


def task_code_paths(names: Iterable[str]) -> list[str]:
    """The local code of the user's tasks among ``names``, for Ray's ``runtime_env``
    ``py_modules`` (so that workers on other machines can import it): each task file, or the
    folder of a module's top-level package (or its one file). Built-in tasks and modules
    installed in a site-packages folder (which every node must have) are left out."""
    installed = [Path(p).resolve() for p in (*site.getsitepackages(), site.getusersitepackages())]
    paths: list[str] = []
    for name in names:
        if not is_user_task(name):
            continue
        user_task(name)
        source = name.rpartition(":")[0]
        top = sys.modules[Path(source).stem if _is_file_source(source) else source.split(".")[0]]
        path = Path(top.__path__[0] if hasattr(top, "__path__") else top.__file__).resolve()
        if not any(path.is_relative_to(p) for p in installed) and str(path) not in paths:
            paths.append(str(path))
    return paths
