"""Proxy tasks: small JAX training problems on which candidate optimizers are scored.

``TASK_BUILDERS`` maps each task name to a zero-argument builder; a task is built on first use
(loading its data once) and cached, so repeated lookups return the same ``Task`` object.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from proxy_tasks import digits, synthetic, text_lm
from proxy_tasks.base import Task
from proxy_tasks.schedules import SCHEDULES, make_schedule

SCALES = ("1x", "10x", "100x")


def _family_builders(family: str, build: Callable[[str], Task]) -> dict[str, Callable[[], Task]]:
    """Cached builders ``family``, ``family-10x``, ``family-100x``."""
    return {
        family if scale == "1x" else f"{family}-{scale}": functools.cache(
            functools.partial(build, scale)
        )
        for scale in SCALES
    }


TASK_BUILDERS: dict[str, Callable[[], Task]] = {
    **_family_builders("digits-mlp", digits.mlp_task),
    **_family_builders("digits-cnn", digits.cnn_task),
    **_family_builders("text-lm", text_lm.lm_task),
    "quadratic": functools.cache(synthetic.quadratic_task),
    "rosenbrock": functools.cache(synthetic.rosenbrock_task),
    "logreg": functools.cache(synthetic.logreg_task),
}

__all__ = ["SCHEDULES", "TASK_BUILDERS", "Task", "make_schedule"]
