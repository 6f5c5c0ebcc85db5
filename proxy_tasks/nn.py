"""Neural-network building blocks shared by the proxy tasks: pure functions on dict params."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Params = dict[str, Any]
RELU_GAIN = math.sqrt(2.0)
SPLIT_STREAM = 1   # fold_in data for the split key (the batch order uses the data key itself)


def dense_init(key: jax.Array, fan_in: int, fan_out: int, gain: float = 1.0) -> Params:
    """Dense layer ``{w: (fan_in, fan_out), b: (fan_out,)}``, ``w ~ N(0, gain^2 / fan_in)``, b 0."""
    w = gain / math.sqrt(fan_in) * jax.random.normal(key, (fan_in, fan_out), jnp.float32)
    return {"w": w, "b": jnp.zeros((fan_out,), jnp.float32)}


def dense(p: Params, x: jax.Array) -> jax.Array:
    """``x @ w + b``."""
    return x @ p["w"] + p["b"]


def conv_init(key: jax.Array, c_in: int, c_out: int, size: int = 3) -> Params:
    """Conv kernel ``w: (size, size, c_in, c_out)`` (HWIO), He init ``N(0, 2 / (size^2 c_in))``;
    ``b = 0``."""
    fan_in = size * size * c_in
    w = (
        RELU_GAIN
        / math.sqrt(fan_in)
        * jax.random.normal(key, (size, size, c_in, c_out), jnp.float32)
    )
    return {"w": w, "b": jnp.zeros((c_out,), jnp.float32)}


def conv(p: Params, x: jax.Array, stride: int) -> jax.Array:
    """2-D convolution of NHWC ``x`` with a ``(k, k, c_in, c_out)`` kernel, zero padding ``k // 2``
    on every side, output pixels at input positions ``0, stride, 2 stride, ...``, plus bias.

    Computed as im2col (the ``k^2`` shifted slices) times the flattened kernel, one 2-D matmul: on
    CPU this is several times faster than ``lax.conv_general_dilated`` at these tiny sizes.
    """
    b, h, w, c_in = x.shape
    k = p["w"].shape[0]
    xp = jnp.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
    patches = jnp.stack(
        [xp[:, i : i + h : stride, j : j + w : stride, :] for i in range(k) for j in range(k)],
        axis=3,
    )
    h_out, w_out = patches.shape[1:3]
    out = patches.reshape(b * h_out * w_out, k * k * c_in) @ p["w"].reshape(k * k * c_in, -1)
    return out.reshape(b, h_out, w_out, -1) + p["b"]


def layer_norm_init(dim: int) -> Params:
    """Layer-norm gain 1 and bias 0."""
    return {"scale": jnp.ones((dim,), jnp.float32), "bias": jnp.zeros((dim,), jnp.float32)}


def layer_norm(p: Params, x: jax.Array, eps: float = 1e-5) -> jax.Array:
    """``(x - mean) / sqrt(var + eps) * scale + bias`` over the last axis."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.var(x, axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps) * p["scale"] + p["bias"]


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy ``-log softmax(logits)[label]`` over all leading axes.

    ``log_softmax`` subtracts the max logit first, so huge logits cannot round the loss to 0
    (``logsumexp(z) - z_y`` in float32 gives 0 when all z are equal and about 1e18: an exploit
    an evolved optimizer found by blowing up the weights).
    """
    log_p = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_p, labels[..., None].astype(jnp.int32), axis=-1))


@functools.cache
def _multipliers(n: int) -> np.ndarray:
    """Up to 64 multipliers a in [2, n) with gcd(a, n) = 1 and a * n < 2 ** 31 (so that
    a * i mod n never overflows int32 for i < n)."""
    limit = min(n, 2**31 // max(n, 1))
    found = [a for a in range(max(limit // 2, 2), limit) if math.gcd(a, n) == 1][:64]
    return np.asarray(found or [1], np.int32)


def permuted(key: jax.Array, i: jax.Array, n: int) -> jax.Array:
    """Entry ``i`` of a permutation of ``[0, n)`` drawn from ``key``: ``(a * i + b) mod n``, with
    ``a`` coprime to ``n`` and ``b`` drawn from the key; a few integer operations per index."""
    multipliers = jnp.asarray(_multipliers(n))
    pick, offset = jax.random.randint(key, (2,), 0, jnp.array([multipliers.size, n]))
    return (multipliers[pick] * i + offset) % n


def sample_indices(key: jax.Array, step: jax.Array, batch_size: int, n: int) -> jax.Array:
    """``batch_size`` indices in ``[0, n)`` for ``step``: a deterministic function of (key, step).

    Sample i of the run (i = step * batch_size + j) is ``permuted(key, i mod n, n)``: each epoch
    visits every index once (without replacement), in an order that differs between keys. The
    data sets are shuffled once when they are loaded, so the stride a leaves no pattern in the
    batches.
    """
    i = (step * batch_size + jnp.arange(batch_size)) % n
    return permuted(key, i, n)


def run_split(data_key: jax.Array) -> jax.Array:
    """The key of a run's train/validation split: drawn from its data key, apart from the key
    of its batch order, so that every training seed also has its own split."""
    return jax.random.fold_in(data_key, SPLIT_STREAM)


def classification_fns(
    apply: Callable[[Params, jax.Array], jax.Array],
    x: jax.Array,
    y: jax.Array,
    n_train: int,
    batch_size: int,
    split_key: Callable[[jax.Array], jax.Array] = run_split,
) -> tuple[Callable, Callable, Callable]:
    """``(loss, get_batch, val_loss)`` of a classifier ``apply(params, x) -> logits``: mean
    cross-entropy, minibatches sampled from the run's training split, and its whole validation
    split. Of the ``n`` examples, a run with data key ``k`` trains on those at
    ``permuted(split_key(k), i, n)`` for ``i < n_train`` and validates on the rest."""
    n = x.shape[0]

    def loss(params: Params, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
        xb, yb = batch
        return cross_entropy(apply(params, xb), yb)

    def get_batch(key: jax.Array, step: jax.Array) -> tuple[jax.Array, jax.Array]:
        idx = permuted(split_key(key), sample_indices(key, step, batch_size, n_train), n)
        return x[idx], y[idx]

    def val_loss(params: Params, key: jax.Array) -> jax.Array:
        idx = permuted(split_key(key), jnp.arange(n_train, n), n)
        return loss(params, (x[idx], y[idx]))

    return loss, get_batch, val_loss
