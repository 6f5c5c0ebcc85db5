"""Direct training of a proxy task with an optax optimizer: one compiled ``lax.scan`` per optimizer.

A run with seed ``s`` splits ``PRNGKey(s)`` into an init key and a data key, then for
``t = 0 .. steps-1``:

    loss_t, g_t = value_and_grad(loss)(params_t, get_batch(data_key, t))
    u_t, state  = tx.update(g_t, state, params_t)
    params_{t+1} = params_t + u_t

and reports ``val_loss(params_steps, data_key)`` (a task that flips its axis signs trains
``D * params`` and computes with ``D * params'``: ``evaluation.flips``). Once a training loss is
non-finite the run is diverged: the remaining steps are skipped (their curve entries are NaN)
and the validation loss is ``inf``.

The compiled loop is cached by (task, optimizer), and the seed and peak learning rate are traced
inputs, so re-running with other seeds or learning rates does not recompile.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lion_search.evaluation import flips
from proxy_tasks.base import Task


class TrainResult(NamedTuple):
    """Outcome of one training run: final validation loss (``inf`` if diverged), training loss per
    step (NaN after divergence), and whether a loss was non-finite."""

    val_loss: float
    train_curve: np.ndarray
    diverged: bool


class SweepResult(NamedTuple):
    """The peak lr of lowest mean validation loss, and ``(lr, mean val loss)`` for every lr."""

    best_lr: float
    results: list[tuple[float, float]]


@dataclass(frozen=True)
class _AsIs:
    """Use ``tx`` unchanged; the peak learning rate is ignored."""

    tx: optax.GradientTransformation

    def __call__(self, lr: jax.Array) -> optax.GradientTransformation:
        return self.tx


@dataclass(frozen=True)
class _TimesSchedule:
    """``tx`` then the step ``-lr * schedule(t) * u`` (optax's ``scale_by_learning_rate``)."""

    tx: optax.GradientTransformation
    schedule: optax.Schedule

    def __call__(self, lr: jax.Array) -> optax.GradientTransformation:
        return optax.chain(self.tx, optax.scale_by_learning_rate(lambda t: lr * self.schedule(t)))


@dataclass(frozen=True)
class _FromSchedule:
    """``make_tx(t -> lr * schedule(t))``."""

    make_tx: Callable[[optax.Schedule], optax.GradientTransformation]
    schedule: optax.Schedule

    def __call__(self, lr: jax.Array) -> optax.GradientTransformation:
        return self.make_tx(lambda t: lr * self.schedule(t))


EvalParams = Callable[[optax.OptState, optax.Params], optax.Params]


@functools.partial(jax.jit, static_argnums=(0, 1, 4))
def _run(
    task: Task,
    tx_at: Callable[[jax.Array], optax.GradientTransformation],
    lr: jax.Array,
    seed: jax.Array,
    eval_params: EvalParams | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Train ``task`` with ``tx_at(lr)`` from ``seed``: (val loss, per-step losses, diverged);
    the validation loss is measured at ``eval_params(state, params)`` if given."""
    tx = tx_at(lr)
    init_key, data_key = jax.random.split(jax.random.PRNGKey(seed))
    params = task.init_params(init_key)
    model = flips.model_weights(task, params, seed)
    params = model(params)

    def live_step(params, opt_state, step):
        batch = task.get_batch(data_key, step)
        loss, grads = jax.value_and_grad(lambda p: task.loss(model(p), batch))(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def dead_step(params, opt_state, step):
        return params, opt_state, jnp.full((), jnp.nan, jnp.float32)

    def body(carry, step):
        params, opt_state, diverged = carry
        params, opt_state, loss = jax.lax.cond(
            diverged, dead_step, live_step, params, opt_state, step
        )
        return (params, opt_state, diverged | ~jnp.isfinite(loss)), loss

    carry = (params, tx.init(params), jnp.array(False))
    (params, opt_state, diverged), curve = jax.lax.scan(
        body, carry, jnp.arange(task.steps, dtype=jnp.int32)
    )
    val = task.val_loss(model(params if eval_params is None else eval_params(opt_state, params)),
                        data_key)
    return val, curve, diverged | ~jnp.isfinite(val)


def _train(
    task: Task, tx_at: Callable[[jax.Array], optax.GradientTransformation], lr: float, seed: int,
    eval_params: EvalParams | None = None,
) -> TrainResult:
    """Run the compiled loop and convert to a ``TrainResult`` (``val_loss = inf`` when diverged)."""
    val, curve, diverged = _run(task, tx_at, jnp.float32(lr), jnp.int32(seed), eval_params)
    diverged = bool(diverged)
    return TrainResult(float("inf") if diverged else float(val), np.asarray(curve), diverged)


def train(
    task: Task, tx: optax.GradientTransformation, seed: int = 0, lr_scale: float | None = None,
    eval_params: EvalParams | None = None,
) -> TrainResult:
    """Train ``task`` with the optimizer ``tx`` from ``PRNGKey(seed)``.

    With ``lr_scale=None``, ``tx`` is a complete optax optimizer (its updates are added to the
    parameters). With ``lr_scale=eta``, ``tx`` is a unit-learning-rate direction in optax's
    ``scale_by_*`` convention and the applied update is ``-eta * task.schedule(t) * tx_update``.
    ``eval_params(state, params)``, if given, are the weights the validation loss is measured at
    (Schedule-Free's average).
    """
    if lr_scale is None:
        return _train(task, _AsIs(tx), 1.0, seed, eval_params)
    return _train(task, _TimesSchedule(tx, task.schedule), lr_scale, seed, eval_params)


def sweep_lr(
    task: Task,
    make_tx: Callable[[optax.Schedule], optax.GradientTransformation],
    lrs: Sequence[float],
    seeds: Sequence[int] = (0,),
) -> SweepResult:
    """Train ``make_tx(t -> lr * task.schedule(t))`` for every peak ``lr`` in ``lrs`` (a log grid
    such as ``np.logspace(-4, -1, 7)``) and seed; score each lr by its mean validation loss over
    the seeds (``inf`` if any seed diverged). ``make_tx`` is e.g. ``optax.adam``; one compile
    serves all the runs.
    """
    tx_at = _FromSchedule(make_tx, task.schedule)
    results = [
        (float(lr), float(np.mean([_train(task, tx_at, lr, seed).val_loss for seed in seeds])))
        for lr in lrs
    ]
    best_lr = min(results, key=lambda r: r[1])[0]
    return SweepResult(best_lr, results)
