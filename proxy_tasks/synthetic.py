"""Cheap synthetic tasks for fast tests: an ill-conditioned quadratic, Rosenbrock, and logistic
regression on data generated from a fixed seed."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from proxy_tasks import nn
from proxy_tasks.base import Task
from proxy_tasks.schedules import make_schedule

STEPS = 200
QUADRATIC_DIM = 32
QUADRATIC_CONDITION = 100.0
LOGREG_DIM = 16
LOGREG_N_TRAIN = 1024
LOGREG_N_VAL = 512
LOGREG_BATCH = 64
DATA_SEED = 0


def _no_batch(key: jax.Array, step: jax.Array) -> tuple[()]:
    """Deterministic objectives take no data: the batch is the empty tuple."""
    del key, step
    return ()


def _objective_task(name: str, description: str, init_params, objective) -> Task:
    """A full-batch task that minimizes ``objective(params)``; its validation loss is the
    objective itself."""
    return Task(
        name=name,
        family=name,
        scale="synthetic",
        description=description,
        steps=STEPS,
        batch_size=0,
        init_params=init_params,
        loss=lambda params, batch: objective(params),
        get_batch=_no_batch,
        val_loss=objective,
        schedule=make_schedule("warmup_cosine", STEPS),
    )


def quadratic_task() -> Task:
    """``f(x) = 1/2 sum_i lambda_i x_i^2`` with eigenvalues ``lambda_i`` log-spaced in [1/100, 1];
    ``x_0 ~ N(0, I_32)``; the validation loss is ``f`` itself (minimum 0)."""
    eigenvalues = jnp.asarray(
        np.logspace(-np.log10(QUADRATIC_CONDITION), 0.0, QUADRATIC_DIM), jnp.float32
    )

    def init_params(key: jax.Array) -> nn.Params:
        return {"x": jax.random.normal(key, (QUADRATIC_DIM,), jnp.float32)}

    def objective(params: nn.Params) -> jax.Array:
        return 0.5 * jnp.sum(eigenvalues * params["x"] ** 2)

    return _objective_task(
        "quadratic",
        f"quadratic, dim {QUADRATIC_DIM}, condition number {QUADRATIC_CONDITION:g}, full batch",
        init_params,
        objective,
    )


def rosenbrock_task() -> Task:
    """``f(x, y) = (1 - x)^2 + 100 (y - x^2)^2`` from ``(-1.2, 1) + N(0, 0.1^2 I)``; min 0 at 1."""
    start = jnp.array([-1.2, 1.0], jnp.float32)

    def init_params(key: jax.Array) -> nn.Params:
        return {"xy": start + 0.1 * jax.random.normal(key, (2,), jnp.float32)}

    def objective(params: nn.Params) -> jax.Array:
        x, y = params["xy"][0], params["xy"][1]
        return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2

    return _objective_task(
        "rosenbrock", "2-D Rosenbrock from (-1.2, 1), full batch",
        init_params, objective,
    )


def _logreg_data() -> tuple[np.ndarray, np.ndarray]:
    """``x ~ N(0, I_16)``, ``y ~ Bernoulli(sigmoid(x . w* + b*))`` with ``w* ~ N(0, (3/4) I)``,
    ``b* = 0.5``, drawn from ``numpy.random.RandomState(0)`` (stable across numpy versions)."""
    rng = np.random.RandomState(DATA_SEED)
    n = LOGREG_N_TRAIN + LOGREG_N_VAL
    w_true = np.sqrt(0.75) * rng.standard_normal(LOGREG_DIM)
    x = rng.standard_normal((n, LOGREG_DIM))
    p = 1.0 / (1.0 + np.exp(-(x @ w_true + 0.5)))
    y = (rng.uniform(size=n) < p).astype(np.float32)
    return x.astype(np.float32), y


def logreg_task() -> Task:
    """Binary logistic regression ``p(y=1|x) = sigmoid(x . w + b)`` on 1,024 synthetic train / 512
    validation points, mean binary cross-entropy, batch 64."""
    x, y = _logreg_data()
    x_train, y_train = jnp.asarray(x[:LOGREG_N_TRAIN]), jnp.asarray(y[:LOGREG_N_TRAIN])
    x_val, y_val = jnp.asarray(x[LOGREG_N_TRAIN:]), jnp.asarray(y[LOGREG_N_TRAIN:])

    def init_params(key: jax.Array) -> nn.Params:
        return {
            "w": 0.01 * jax.random.normal(key, (LOGREG_DIM,), jnp.float32),
            "b": jnp.zeros((), jnp.float32),
        }

    def loss(params: nn.Params, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
        xb, yb = batch
        return jnp.mean(optax.sigmoid_binary_cross_entropy(xb @ params["w"] + params["b"], yb))

    def get_batch(key: jax.Array, step: jax.Array) -> tuple[jax.Array, jax.Array]:
        idx = nn.sample_indices(key, step, LOGREG_BATCH, LOGREG_N_TRAIN)
        return x_train[idx], y_train[idx]

    return Task(
        name="logreg",
        family="logreg",
        scale="synthetic",
        description=(
            f"logistic regression, dim {LOGREG_DIM}, synthetic data "
            f"{LOGREG_N_TRAIN}/{LOGREG_N_VAL}, batch {LOGREG_BATCH}"
        ),
        steps=STEPS,
        batch_size=LOGREG_BATCH,
        init_params=init_params,
        loss=loss,
        get_batch=get_batch,
        val_loss=lambda params: loss(params, (x_val, y_val)),
        schedule=make_schedule("warmup_cosine", STEPS),
    )
