"""Training instances that flip the signs of the parameters' axes: a task named `NAME+flips`.

On training seed s such a task draws, for each parameter tensor, a sign per tensor and one per
index of each of its axes (a matrix's rows and its columns), from PRNGKey(s) apart from the
init and data keys, and multiplies them into D (entries +-1, D = s_0 r_1 (x) r_2 (x) ...). The
optimizer then trains w' = D * w: it starts from D * w_0, it is given

    g' = dL(D * w') / dw' = D * g,

and the model computes with D * w' = w. The model, its loss and its data are the task's own;
only the signs the optimizer sees are drawn per seed. Multiplying by +-1 is exact in floating
point, so an optimizer whose update commutes with D,

    u(D * g, D * w, ...) = D * u(g, w, ...)     (memory that follows g or w flips with them),

trains exactly as on the task itself (in the interpreters to the bit; in optax's loop to float
rounding, where XLA may fuse the product into a multiply-add): SGD, Adam, Lion and every rule
odd in g and w entry by entry, and Muon's orthogonalize and Adafactor's factored moments,
which are built on rows and columns. A program that leans on the signs of the task's own parametrization (a constant added
to every update: every weight drifts one way, which a ReLU network rewards; `g != g ** 2`) meets
a different one on each seed, so its lucky direction is not a gain (BENCHMARKS section 38).
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from proxy_tasks.base import Task

PyTree = Any
SIGNS_STREAM = 0x5167   # folded into PRNGKey(seed) for the signs' own key


def axis_signs(shapes: PyTree, seed: jax.Array) -> PyTree:
    """D for each leaf of `shapes` (arrays or ShapeDtypeStructs), in its dtype: a random sign
    for the tensor times, for each axis, a random sign per index along it."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), SIGNS_STREAM)
    leaves, tree = jax.tree.flatten(shapes)
    signs = []
    for i, leaf in enumerate(leaves):
        leaf_key = jax.random.fold_in(key, i)
        d = jax.random.rademacher(leaf_key, (), jnp.float32)
        for axis, n in enumerate(leaf.shape):
            r = jax.random.rademacher(jax.random.fold_in(leaf_key, axis + 1), (n,), jnp.float32)
            d = d * r.reshape([n if k == axis else 1 for k in range(len(leaf.shape))])
        signs.append(jnp.broadcast_to(d, leaf.shape).astype(leaf.dtype))
    return jax.tree.unflatten(tree, signs)


def model_weights(task: Task, shapes: PyTree, seed: jax.Array) -> Callable[[PyTree], PyTree]:
    """w' -> the weights the model computes with: D * w' where `task` flips its axes (D is its
    own inverse, so the same map takes the task's initial weights to the optimizer's), else
    w' itself."""
    if not task.flip_signs:
        return lambda params: params
    signs = axis_signs(shapes, seed)
    return lambda params: jax.tree.map(jnp.multiply, signs, params)


def flat_model_weights(task: Task, shapes: PyTree, seed: jax.Array
                       ) -> Callable[[jax.Array], jax.Array]:
    """`model_weights` on the raveled parameters (the interpreters' one vector per program)."""
    if not task.flip_signs:
        return lambda w: w
    signs = ravel_pytree(axis_signs(shapes, seed))[0]
    return lambda w: signs * w
