"""The proxy-task record: everything a training loop needs, as jittable functions.

A task is trained by ``steps`` iterations of

    batch_t  = get_batch(data_key, t)
    g_t      = grad loss(params_t, batch_t)
    params_{t+1} = params_t + optimizer_update(g_t, lr * schedule(t))

and scored by ``val_loss(params_steps, data_key)``: a task whose validation set is the run's own
(the digits tasks draw each run's train/validation split from its data key) reads the key; one
with a fixed validation set may be written ``val_loss(params)``, and is taken as ignoring it.
All data arrays are closed over as constants, so
``get_batch``, ``loss`` and ``val_loss`` can run inside one ``jax.jit`` with ``lax.scan`` over a
traced step counter.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

PyTree = Any


@dataclass(frozen=True)
class Task:
    """A small JAX training problem with a fixed step budget and a unit-peak lr schedule shape.

    ``scale`` is ``"1x"``, ``"10x"``, ``"100x"`` (the funnel sizes of one family), ``"mini"``
    or ``"micro"`` (cheaper members for portfolios and proxies) or ``"synthetic"``. ``batch_size`` is 0 for deterministic objectives whose batch is ``()``.
    ``flip_signs``: each training seed flips the signs of the parameters' axes, the same model
    in another parametrization (lion-search's ``NAME+flips``; ``lion_search.evaluation.flips``).
    """

    name: str
    family: str
    scale: str
    description: str
    steps: int
    batch_size: int
    init_params: Callable[[jax.Array], PyTree]
    loss: Callable[[PyTree, Any], jax.Array]
    get_batch: Callable[[jax.Array, jax.Array], Any]
    val_loss: Callable[[PyTree, jax.Array], jax.Array]
    schedule: Callable[[jax.Array], jax.Array]
    schedule_name: str = "warmup_cosine"
    flip_signs: bool = False

    def __post_init__(self) -> None:
        if callable(self.val_loss) and not _takes_two(self.val_loss):
            fixed = self.val_loss
            object.__setattr__(self, "val_loss", lambda params, data_key: fixed(params))

    def param_shapes(self) -> PyTree:
        """Shapes and dtypes of the parameters (``jax.ShapeDtypeStruct`` leaves), not computed."""
        return jax.eval_shape(self.init_params, jax.random.PRNGKey(0))

    def batch_shapes(self) -> Any:
        """Shapes and dtypes of one batch, without computing it."""
        return jax.eval_shape(self.get_batch, jax.random.PRNGKey(0), jnp.int32(0))

    @functools.cached_property
    def n_params(self) -> int:
        """Number of scalar parameters."""
        return sum(leaf.size for leaf in jax.tree.leaves(self.param_shapes()))

    @functools.cached_property
    def flops_estimate(self) -> float:
        """Rough FLOPs of one full training run: ``steps * F(value_and_grad loss) + F(val_loss)``.

        ``F`` is XLA's static cost analysis of the lowered (not compiled) computation; optimizer
        arithmetic, which is O(n_params) per step, is left out.
        """
        params, batch = self.param_shapes(), self.batch_shapes()
        step = _flops(jax.jit(jax.value_and_grad(self.loss)).lower(params, batch))
        return self.steps * step + _flops(
            jax.jit(self.val_loss).lower(params, jax.random.PRNGKey(0)))


def _takes_two(fn: Callable) -> bool:
    """Whether ``fn`` can be called with two positional arguments (``val_loss(params,
    data_key)``); a function whose signature cannot be read is taken at one."""
    try:
        inspect.signature(fn).bind(None, None)
    except (TypeError, ValueError):
        return False
    return True


def _flops(lowered: jax.stages.Lowered) -> float:
    """XLA's FLOP count of a lowered computation (some jax versions wrap the dict in a list)."""
    cost = lowered.cost_analysis()
    if isinstance(cost, list):
        cost = cost[0]
    return float(cost.get("flops", 0.0))
