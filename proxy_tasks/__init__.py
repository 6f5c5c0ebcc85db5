"""Proxy tasks: small JAX training problems on which candidate optimizers are scored.

``TASK_BUILDERS`` maps each task name to a builder ``build(batch_size=None) -> Task``: with no
argument it builds the task as named; ``batch_size`` builds a variant that trains on batches of
that size (the neural-network families only; the synthetic tasks raise ValueError, as does a
batch size a task cannot take). A task is built on first use (loading its data once) and
cached, so repeated lookups with equal arguments return the same ``Task`` object.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from proxy_tasks import digits, synthetic, text_lm
from proxy_tasks.base import Task
from proxy_tasks.schedules import SCHEDULES, make_schedule

SCALES = ("1x", "10x", "100x")

Builder = Callable[..., Task]


def _family_builders(family: str, build: Callable[..., Task]) -> dict[str, Builder]:
    """Cached builders ``family``, ``family-10x``, ``family-100x``, each ``(batch_size=None)``."""
    return {
        family if scale == "1x" else f"{family}-{scale}": functools.cache(
            functools.partial(build, scale)
        )
        for scale in SCALES
    }


def _fixed_batch(build: Callable[[], Task]) -> Builder:
    """A cached builder of a task whose batch cannot be changed (a synthetic objective)."""
    cached = functools.cache(build)

    def builder(batch_size: int | None = None) -> Task:
        if batch_size is not None:
            fixed = cached().batch_size
            kind = "it is full-batch" if fixed == 0 else f"its batch is fixed at {fixed}"
            raise ValueError(f"{kind}; a batch size can be set for the digits-mlp, digits-cnn "
                             "and text-lm families only")
        return cached()

    return builder


def _named_batch(build: Callable[..., Task], scale: str, batch_size: int, name: str) -> Builder:
    """A cached builder of the ``scale`` member of a family trained on batches of
    ``batch_size`` by default, under its own ``name``."""

    @functools.cache
    def builder(batch: int | None = None) -> Task:
        return build(scale, batch_size if batch is None else batch, name)

    return builder


TASK_BUILDERS: dict[str, Builder] = {
    **_family_builders("digits-mlp", digits.mlp_task),
    **_family_builders("digits-cnn", digits.cnn_task),
    **_family_builders("text-lm", text_lm.lm_task),
    "digits-cnn-mini": functools.cache(functools.partial(digits.cnn_task, "mini")),
    "text-lm-micro": functools.cache(functools.partial(text_lm.lm_task, "micro")),
    "text-lm-mini": functools.cache(functools.partial(text_lm.lm_task, "mini")),
    # The default search proxy: digits-mlp on batches of 512 (4x), the cheapest proxy with the
    # highest rank agreement with the funnel's larger tasks (`lion-search bench --proxies`).
    "digits-mlp-b512": _named_batch(digits.mlp_task, "1x", 512, "digits-mlp-b512"),
    "quadratic": _fixed_batch(synthetic.quadratic_task),
    "rosenbrock": _fixed_batch(synthetic.rosenbrock_task),
    "logreg": _fixed_batch(synthetic.logreg_task),
}

__all__ = ["SCHEDULES", "TASK_BUILDERS", "Task", "make_schedule"]
