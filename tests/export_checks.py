"""What the export tests share: the pytree they train (matrices, vectors, a 3-D kernel, a
scalar), gradients, loading a written module, and each program's reference trajectory from
`to_optax` (the runtime), computed once and compared with an export's step by step.

Everything runs eagerly: a few steps of a program cost less than compiling it."""
import functools
import importlib.util
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax

import lion_search
from lion_search.export.optax_module import optax_source
from lion_search.export.torch_module import optimizer_class, torch_source
from tests.conftest import gradient_sequence

TOLERANCE = 1e-6  # relative, per step: max over tensors of ||ours - reference|| / ||reference||
LR = 0.01
_counter = itertools.count()


def make_params(dtype=jnp.float32):
    """A matrix >= 128 x 128 (Adafactor factors it, Muon orthogonalizes it), a small one, a
    vector, a 3-D kernel and a 0-d scalar, in nested dicts and lists."""
    rng = np.random.default_rng(0)
    return {"dense": {"kernel": jnp.asarray(rng.normal(size=(131, 130)), dtype),
                      "bias": jnp.asarray(rng.normal(size=(130,)), dtype)},
            "blocks": [jnp.asarray(rng.normal(size=(3, 4, 5)), dtype),
                       jnp.asarray(rng.normal(size=(6, 4)), dtype),
                       (jnp.asarray(rng.normal(), dtype),)]}


PARAMS = make_params()


@functools.lru_cache(maxsize=1)
def gradients(steps: int) -> tuple:
    return tuple(gradient_sequence(PARAMS, steps))


def import_path(path):
    """The module written at `path`, imported under a fresh name."""
    spec = importlib.util.spec_from_file_location(f"{path.stem}_{next(_counter)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_optax(program, folder):
    path = folder / f"{program.name}_opt_{next(_counter)}.py"
    path.write_text(optax_source(program, path=path.name))
    return import_path(path)


def write_torch(program, folder):
    """The optimizer class of `program`'s exported torch module."""
    path = folder / f"{program.name}_torch_{next(_counter)}.py"
    path.write_text(torch_source(program, path=path.name))
    return getattr(import_path(path), optimizer_class(program))


def optax_path(tx, grads, params=PARAMS, jit: bool = False):
    """(the params after each step of `tx` fed `grads` (its update compiled where `jit`), the
    final state)."""
    state, path = tx.init(params), []
    update = jax.jit(tx.update) if jit else tx.update
    for g in grads:
        updates, state = update(g, state, params)
        params = optax.apply_updates(params, updates)
        path.append(params)
    return path, state


@functools.lru_cache(maxsize=64)
def reference(program, steps: int, scale: float = 0.0, jit: bool = False,
              float64: bool = False):
    """to_optax's trajectory of `program` and its final state; to see how much rounding moves
    it, with gradients scaled by 1 + scale * noise, compiled (XLA orders sums and fuses ops
    otherwise than eager dispatch does), or in float64."""
    grads = gradients(steps)
    if scale:
        rng = np.random.default_rng(7)
        grads = [jax.tree.map(lambda x: x * (1 + scale * rng.normal(size=x.shape)).astype(
            np.float32), g) for g in grads]
    tx = lion_search.to_optax(program, LR, total_steps=steps)
    if not float64:
        return optax_path(tx, grads, jit=jit)
    with jax.enable_x64(True):
        wide = functools.partial(jax.tree.map, lambda x: jnp.asarray(x, jnp.float64))
        path, state = optax_path(tx, [wide(g) for g in grads], wide(PARAMS), jit=jit)
        return [jax.tree.map(np.asarray, p) for p in path], state


def torch_path(cls, steps: int, lr: float = LR):
    """The torch optimizer's params (numpy leaves) after each step of the same gradients."""
    import torch

    weights = [torch.nn.Parameter(torch.tensor(np.asarray(x))) for x in jax.tree.leaves(PARAMS)]
    optimizer, path = cls(weights, lr=lr, total_steps=steps), []
    for g in gradients(steps):
        for w, x in zip(weights, jax.tree.leaves(g)):
            w.grad = torch.tensor(np.asarray(x))
        optimizer.step()
        path.append([w.detach().numpy().copy() for w in weights])
    return path, optimizer, weights


def relative_error(ours, theirs) -> float:
    """The largest over tensors of ||ours - theirs|| / max(||theirs||, 1e-6) (pytrees or lists
    of arrays, leaf for leaf)."""
    return max(float(np.linalg.norm(np.ravel(a) - np.ravel(b)))
               / max(float(np.linalg.norm(np.ravel(b))), 1e-6)
               for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True))


def step_errors(path, reference_path) -> list[float]:
    return [relative_error(a, b) for a, b in zip(path, reference_path, strict=True)]
