"""Direct training with optax: Adam learns the digits, divergence is reported (not raised), the
seed and learning rate do not recompile, and the lr sweep picks the best of a log grid."""

import math

import jax
import numpy as np
import optax
import pytest

from lion_search.evaluation.tasks import get_task
from lion_search.evaluation.train import SweepResult, TrainResult, _run, sweep_lr, train


def adam_tx(task, lr):
    return optax.adam(lambda t: lr * task.schedule(t))


def test_adam_learns_the_digits_and_beats_sgd():
    task = get_task("digits-mlp")
    adam = train(task, adam_tx(task, 1e-2))
    sgd = train(task, optax.sgd(lambda t: 1e-2 * task.schedule(t)))
    assert isinstance(adam, TrainResult) and not adam.diverged
    assert adam.train_curve.shape == (task.steps,) and np.all(np.isfinite(adam.train_curve))
    assert abs(adam.train_curve[0] - math.log(10)) < 0.7
    assert adam.val_loss < 0.5
    assert adam.val_loss < sgd.val_loss


def test_lr_scale_applies_the_task_schedule_to_a_unit_direction():
    task = get_task("logreg")
    direct = train(task, adam_tx(task, 3e-2), seed=1)
    scaled = train(task, optax.scale_by_adam(), seed=1, lr_scale=3e-2)
    assert scaled.val_loss == pytest.approx(direct.val_loss, rel=1e-5)
    np.testing.assert_allclose(scaled.train_curve, direct.train_curve, rtol=1e-5)


def test_runs_are_deterministic_per_seed_and_compile_once_per_optimizer():
    task = get_task("logreg")
    tx = optax.scale_by_adam()
    first = train(task, tx, seed=0, lr_scale=1e-2)
    compiled = _run._cache_size()
    again = train(task, tx, seed=0, lr_scale=1e-2)
    other = train(task, tx, seed=1, lr_scale=3e-2)
    assert _run._cache_size() == compiled
    np.testing.assert_array_equal(first.train_curve, again.train_curve)
    assert first.val_loss == again.val_loss != other.val_loss


def test_divergence_gives_inf_without_raising():
    task = get_task("quadratic")
    result = train(task, optax.sgd(1e3))
    assert result.diverged and result.val_loss == math.inf
    assert np.isnan(result.train_curve[-1]) and np.isfinite(result.train_curve[0])
    assert not train(task, optax.sgd(1.0)).diverged


def test_sweep_lr_picks_the_best_of_the_grid():
    task = get_task("quadratic")
    lrs = np.logspace(-3, 3, 7)
    sweep = sweep_lr(task, optax.sgd, lrs, seeds=(0, 1))
    assert isinstance(sweep, SweepResult)
    assert [lr for lr, _ in sweep.results] == pytest.approx(list(lrs))
    losses = dict(sweep.results)
    assert sweep.best_lr == min(losses, key=losses.get)
    assert losses[1e3] == math.inf and sweep.best_lr == pytest.approx(1.0)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits-cnn", "text-lm", "digits-mlp-10x"])
def test_adam_learns_the_other_small_tasks(name):
    task = get_task(name)
    params = task.init_params(jax.random.PRNGKey(0))
    initial = float(task.val_loss(params, jax.random.PRNGKey(0)))
    result = train(task, adam_tx(task, 1e-2))
    assert not result.diverged and result.val_loss < 0.6 * initial
