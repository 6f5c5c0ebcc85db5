"""Classifiers of the UCI 8x8 digits (each run: 1,437 train / 360 validation, its own split): an MLP
and a small conv net."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from proxy_tasks import nn
from proxy_tasks.base import Task
from proxy_tasks.data import digits
from proxy_tasks.schedules import make_schedule

N_PIXELS = 64
N_CLASSES = 10
BATCH_SIZE = 128


class MLPSize(NamedTuple):
    """Hidden-layer widths and step count of one MLP size."""

    hidden: tuple[int, ...]
    steps: int


class CNNSize(NamedTuple):
    """Conv layers as (channels, stride), 3x3 kernels, and step count of one CNN size."""

    convs: tuple[tuple[int, int], ...]
    steps: int


MLP_SIZES: dict[str, MLPSize] = {
    "1x": MLPSize(hidden=(64,), steps=300),
    "10x": MLPSize(hidden=(128, 128), steps=450),
    "100x": MLPSize(hidden=(256, 256, 256), steps=700),
}

CNN_SIZES: dict[str, CNNSize] = {
    "1x": CNNSize(convs=((8, 2), (16, 2)), steps=300),
    "10x": CNNSize(convs=((16, 2), (32, 2)), steps=900),
    "100x": CNNSize(convs=((16, 1), (32, 2), (64, 2)), steps=1200),
    # The portfolio member: about the cost of digits-mlp per run.
    "mini": CNNSize(convs=((4, 2), (8, 2)), steps=200),
}


def _split_key(split_seed: int | None) -> Callable[[jax.Array], jax.Array]:
    """The split key of a run from its data key: its own (`nn.run_split`), or with
    ``split_seed`` the one a run with that seed draws, for every run (trainers split
    ``PRNGKey(seed)`` into an init key and a data key)."""
    if split_seed is None:
        return nn.run_split
    fixed = nn.run_split(jax.random.split(jax.random.PRNGKey(split_seed))[1])
    return lambda data_key: fixed


def _classifier_task(family: str, scale: str, model: str, steps: int,
                     init_params: Callable[[jax.Array], nn.Params],
                     apply: Callable[[nn.Params, jax.Array], jax.Array],
                     batch_size: int | None, name: str | None,
                     split_seed: int | None = None) -> Task:
    """The ``family[-scale]`` task (or ``name``): the classifier ``apply(params, x) -> logits``
    trained with cross-entropy on the digits, ``batch_size`` examples a step (default 128), for
    ``steps`` steps of warmup + cosine. Each run draws its own train/validation split from its
    data key, as it draws its batch order; ``split_seed`` fixes every run's split to that seed's.
    Raises ValueError for a batch larger than the 1,437 training examples (an epoch would repeat
    examples within one batch)."""
    data = digits()
    batch_size = BATCH_SIZE if batch_size is None else batch_size
    if not 1 <= batch_size <= data.n_train:
        raise ValueError(f"batch size must be between 1 and the {data.n_train} training examples "
                         f"of the digits, got {batch_size}")
    loss, get_batch, val_loss = nn.classification_fns(
        apply, jnp.asarray(data.x), jnp.asarray(data.y), data.n_train, batch_size,
        _split_key(split_seed))
    return Task(
        name=name or (family if scale == "1x" else f"{family}-{scale}"),
        family=family,
        scale=scale,
        description=f"{model} on UCI 8x8 digits, batch {batch_size}",
        steps=steps,
        batch_size=batch_size,
        init_params=init_params,
        loss=loss,
        get_batch=get_batch,
        val_loss=val_loss,
        schedule=make_schedule("warmup_cosine", steps),
    )


def mlp_task(scale: str, batch_size: int | None = None, name: str | None = None,
             split_seed: int | None = None) -> Task:
    """``digits-mlp[-scale]``: ReLU MLP 64-h1-...-10 with cross-entropy, batch ``batch_size``
    (default 128); ``name`` overrides the task's name (for named variants); ``split_seed``: as
    in ``_classifier_task``."""
    size = MLP_SIZES[scale]
    widths = (N_PIXELS, *size.hidden, N_CLASSES)
    n_layers = len(widths) - 1

    def init_params(key: jax.Array) -> nn.Params:
        keys = jax.random.split(key, n_layers)
        return {
            f"dense_{i}": nn.dense_init(
                keys[i], widths[i], widths[i + 1], nn.RELU_GAIN if i < n_layers - 1 else 1.0
            )
            for i in range(n_layers)
        }

    def apply(params: nn.Params, x: jax.Array) -> jax.Array:
        for i in range(n_layers - 1):
            x = jax.nn.relu(nn.dense(params[f"dense_{i}"], x))
        return nn.dense(params[f"dense_{n_layers - 1}"], x)

    arch = "-".join(map(str, widths))
    return _classifier_task("digits-mlp", scale, f"MLP {arch} ReLU", size.steps, init_params, apply,
                            batch_size, name, split_seed)


def cnn_task(scale: str, batch_size: int | None = None, name: str | None = None) -> Task:
    """``digits-cnn[-scale]``: 3x3 SAME convs with ReLU on the 8x8x1 image, flattened into a
    dense 10-way classifier, cross-entropy, batch ``batch_size`` (default 128); ``name``
    overrides the task's name."""
    size = CNN_SIZES[scale]
    channels = (1, *(c for c, _ in size.convs))
    side = 8
    for _, stride in size.convs:
        side = -(-side // stride)
    n_flat = side * side * channels[-1]

    def init_params(key: jax.Array) -> nn.Params:
        keys = jax.random.split(key, len(size.convs) + 1)
        params = {
            f"conv_{i}": nn.conv_init(keys[i], channels[i], channels[i + 1])
            for i in range(len(size.convs))
        }
        params["dense"] = nn.dense_init(keys[-1], n_flat, N_CLASSES)
        return params

    def apply(params: nn.Params, x: jax.Array) -> jax.Array:
        h = x.reshape(-1, 8, 8, 1)
        for i, (_, stride) in enumerate(size.convs):
            h = jax.nn.relu(nn.conv(params[f"conv_{i}"], h, stride))
        return nn.dense(params["dense"], h.reshape(h.shape[0], n_flat))

    arch = ", ".join(f"3x3x{c} stride {s}" for c, s in size.convs)
    return _classifier_task("digits-cnn", scale, f"CNN {arch}, dense 10", size.steps, init_params,
                            apply, batch_size, name)
