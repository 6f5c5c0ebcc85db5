"""A byte-level causal transformer language model on the shipped pydoc topics text.

Pre-layer-norm GPT-style blocks, ``x += Attn(LN(x))`` then ``x += MLP(LN(x))``, with causal
multi-head softmax attention, a GELU MLP of width 4 d_model, learned position embeddings and an
untied unembedding.
The loss is the mean next-byte cross-entropy (nats per byte).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from proxy_tasks import nn
from proxy_tasks.base import Task
from proxy_tasks.data import text_corpus
from proxy_tasks.schedules import make_schedule

EMBED_STD = 0.02
MLP_RATIO = 4


class LMSize(NamedTuple):
    """Model width, depth, heads, context length, batch size and step count of one LM size."""

    d_model: int
    n_layers: int
    n_heads: int
    context: int
    batch_size: int
    steps: int


LM_SIZES: dict[str, LMSize] = {
    "1x": LMSize(d_model=32, n_layers=1, n_heads=2, context=32, batch_size=16, steps=300),
    "10x": LMSize(d_model=64, n_layers=2, n_heads=4, context=32, batch_size=16, steps=500),
    "100x": LMSize(d_model=96, n_layers=3, n_heads=4, context=64, batch_size=16, steps=800),
    # The portfolio member: the smallest size where tuned AdamW still clearly beats tuned SGD.
    "mini": LMSize(d_model=32, n_layers=1, n_heads=2, context=16, batch_size=16, steps=200),
    # A shorter, cheaper proxy: mini's model trained for half its steps (about a quarter of its
    # cost per evaluation on 2 cores; `lion-search bench --proxies`).
    "micro": LMSize(d_model=32, n_layers=1, n_heads=2, context=16, batch_size=16, steps=100),
}


def _init_block(key: jax.Array, d: int, n_layers: int) -> nn.Params:
    """One block; residual output projections are scaled down by ``1 / sqrt(2 n_layers)``."""
    k_qkv, k_out, k_fc, k_proj = jax.random.split(key, 4)
    out_gain = 1.0 / math.sqrt(2 * n_layers)
    return {
        "ln_1": nn.layer_norm_init(d),
        "qkv": nn.dense_init(k_qkv, d, 3 * d),
        "attn_out": nn.dense_init(k_out, d, d, out_gain),
        "ln_2": nn.layer_norm_init(d),
        "fc": nn.dense_init(k_fc, d, MLP_RATIO * d, nn.RELU_GAIN),
        "proj": nn.dense_init(k_proj, MLP_RATIO * d, d, out_gain),
    }


def _attention(p: nn.Params, x: jax.Array, n_heads: int) -> jax.Array:
    """Causal multi-head attention ``softmax(q k^T / sqrt(d_head) + mask) v``, heads joined."""
    b, t, d = x.shape
    q, k, v = jnp.split(nn.dense(p["qkv"], x).reshape(b, t, 3 * n_heads, d // n_heads), 3, axis=2)
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(d // n_heads)
    causal = jnp.tril(jnp.ones((t, t), bool))
    weights = jax.nn.softmax(jnp.where(causal, scores, -1e9), axis=-1)
    return nn.dense(p["attn_out"], jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, t, d))


def _block(p: nn.Params, x: jax.Array, n_heads: int) -> jax.Array:
    """``x + Attn(LN(x))`` then ``+ MLP(LN(.))``."""
    x = x + _attention(p, nn.layer_norm(p["ln_1"], x), n_heads)
    return x + nn.dense(p["proj"], jax.nn.gelu(nn.dense(p["fc"], nn.layer_norm(p["ln_2"], x))))


def lm_task(scale: str, batch_size: int | None = None, name: str | None = None) -> Task:
    """``text-lm[-scale]``: next-byte prediction on random ``context``-byte windows of the training
    text, ``batch_size`` windows a step (default: the size's own, 16); validation on all
    non-overlapping windows of the held-out last 10%. ``name`` overrides the task's name (for
    named variants). Raises ValueError for a batch size below 1."""
    size = LM_SIZES[scale]
    if batch_size is not None:
        if batch_size < 1:
            raise ValueError(f"batch size must be a positive integer, got {batch_size}")
        size = size._replace(batch_size=batch_size)
    corpus = text_corpus()
    vocab, d, t = len(corpus.vocab), size.d_model, size.context
    train_ids = jnp.asarray(corpus.train)
    n_val = (len(corpus.val) - 1) // t
    val_x = jnp.asarray(corpus.val[: n_val * t].reshape(n_val, t))
    val_y = jnp.asarray(corpus.val[1 : n_val * t + 1].reshape(n_val, t))

    def init_params(key: jax.Array) -> nn.Params:
        keys = jax.random.split(key, size.n_layers + 3)
        params = {
            "embed": EMBED_STD * jax.random.normal(keys[0], (vocab, d), jnp.float32),
            "pos_embed": EMBED_STD * jax.random.normal(keys[1], (t, d), jnp.float32),
            "ln_f": nn.layer_norm_init(d),
            "unembed": nn.dense_init(keys[2], d, vocab),
        }
        for i in range(size.n_layers):
            params[f"block_{i}"] = _init_block(keys[3 + i], d, size.n_layers)
        return params

    def logits_fn(params: nn.Params, ids: jax.Array) -> jax.Array:
        x = params["embed"][ids.astype(jnp.int32)] + params["pos_embed"]
        for i in range(size.n_layers):
            x = _block(params[f"block_{i}"], x, size.n_heads)
        return nn.dense(params["unembed"], nn.layer_norm(params["ln_f"], x))

    def loss(params: nn.Params, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
        x, y = batch
        return nn.cross_entropy(logits_fn(params, x), y.astype(jnp.int32))

    def get_batch(key: jax.Array, step: jax.Array) -> tuple[jax.Array, jax.Array]:
        starts = nn.sample_indices(key, step, size.batch_size, train_ids.shape[0] - t)
        window = train_ids[starts[:, None] + jnp.arange(t + 1)]
        return window[:, :-1], window[:, 1:]

    def val_loss(params: nn.Params) -> jax.Array:
        return loss(params, (val_x, val_y))

    name = name or ("text-lm" if scale == "1x" else f"text-lm-{scale}")
    return Task(
        name=name,
        family="text-lm",
        scale=scale,
        description=(
            f"byte transformer d{d} L{size.n_layers} H{size.n_heads} ctx {t} vocab {vocab} "
            f"on pydoc topics text, batch {size.batch_size}"
        ),
        steps=size.steps,
        batch_size=size.batch_size,
        init_params=init_params,
        loss=loss,
        get_batch=get_batch,
        val_loss=val_loss,
        schedule=make_schedule("warmup_cosine", size.steps),
    )
