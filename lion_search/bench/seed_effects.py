"""What a training seed controls (`lion-search bench --seed-effects N`).

A run with seed s draws its initialisation, its batch order and its digits train/validation
split from PRNGKey(s). On digits-mlp-b512, AdamW at the search's calibrated lr is trained N
times with one source varied at a time (the others held at seed 0's), and with all of them
varied (as training seeds do), so that the spread each causes, and where seed 0's run lies in
it, are measured side by side.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from proxy_tasks import digits
from proxy_tasks.base import Task

LR = 1e-2             # AdamW's calibrated peak lr on digits-mlp-b512 (the seed's lr x0.01)
WEIGHT_DECAY = 1e-4   # the adamw seed program's


class Effect(NamedTuple):
    """The validation losses of N runs with one source of randomness varied."""

    source: str
    losses: tuple[float, ...]

    @property
    def spread(self) -> float:
        """max / min of the losses."""
        return max(self.losses) / min(self.losses)


def adamw_loss(task: Task, init_key: jax.Array, data_key: jax.Array, lr: float = LR) -> float:
    """AdamW's validation loss after training `task` from these keys."""
    tx = optax.adamw(lambda step: lr * task.schedule(step), weight_decay=WEIGHT_DECAY)

    @jax.jit
    def run(init_key: jax.Array, data_key: jax.Array) -> jax.Array:
        params = task.init_params(init_key)

        def step(carry, t):
            params, state = carry
            grads = jax.grad(task.loss)(params, task.get_batch(data_key, t))
            updates, state = tx.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), None

        (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), jnp.arange(task.steps))
        return task.val_loss(params, data_key)

    return float(run(init_key, data_key))


def seed_effects(n: int) -> list[Effect]:
    """N runs each with the initialisation, the batch order, the split, or all three varied."""
    def task(split: int | None) -> Task:
        return digits.mlp_task("1x", batch_size=512, name="digits-mlp-b512", split_seed=split)

    base = task(0)
    keys = [jax.random.split(jax.random.PRNGKey(s)) for s in range(n)]
    init0, data0 = keys[0]
    return [
        Effect("initialisation", tuple(adamw_loss(base, k[0], data0) for k in keys)),
        Effect("batch order", tuple(adamw_loss(base, init0, k[1]) for k in keys)),
        Effect("train/validation split", tuple(adamw_loss(task(s), init0, data0)
                                               for s in range(n))),
        Effect("all three", tuple(adamw_loss(task(None), *k) for k in keys)),
    ]


def effect_lines(effects: list[Effect]) -> list[str]:
    """One line per source: mean, sd, max/min and seed 0's value (the first run of each)."""
    return [f"{e.source:24s} mean {np.mean(e.losses):.4f}  sd {np.std(e.losses, ddof=1):.4f}  "
            f"max/min {e.spread:.2f}x  seed 0's {e.losses[0]:.4f} "
            f"(rank {1 + sorted(e.losses).index(e.losses[0])} of {len(e.losses)})"
            for e in effects]
