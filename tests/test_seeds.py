"""Every seed program against its reference: optax where optax has it, the paper's rule otherwise."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lion_search
from lion_search.language.library import seed_names
from tests.conftest import gradient_sequence, max_relative_error

STEPS = 120
LR = 0.01

OPTAX_COUNTERPARTS = {
    "sgd": lambda lr: optax.sgd(lr),
    "momentum": lambda lr: optax.sgd(lr, momentum=0.9),
    "nesterov": lambda lr: optax.sgd(lr, momentum=0.9, nesterov=True),
    "adagrad": lambda lr: optax.adagrad(lr),
    "rmsprop": lambda lr: optax.rmsprop(lr),
    "adam": lambda lr: optax.adam(lr),
    "adamw": lambda lr: optax.adamw(lr),
    "adamax": lambda lr: optax.adamax(lr),
    "nadam": lambda lr: optax.nadam(lr),
    "radam": lambda lr: optax.radam(lr),
    "lion": lambda lr: optax.lion(lr),
}
LOOKAHEAD_COUNTERPARTS = {
    "lookahead": lambda lr: optax.lookahead(optax.adam(lr), sync_period=5, slow_step_size=0.5),
    "ranger": lambda lr: optax.lookahead(optax.radam(lr), sync_period=6, slow_step_size=0.5),
}


def trajectory(tx, params, grads, lookahead=False):
    """The parameters after each step of `tx` fed the gradients `grads`."""
    if lookahead:
        params = optax.LookaheadParams.init_synced(params)
    state = tx.init(params)
    update = jax.jit(tx.update)
    path = []
    for g in grads:
        updates, state = update(g, state, params)
        params = optax.apply_updates(params, updates)
        path.append(params.fast if lookahead else params)
    return path


def assert_same_trajectory(ours, reference, tol=1e-4):
    for step, (a, b) in enumerate(zip(ours, reference, strict=True)):
        error = max_relative_error(a, b)
        assert error <= tol, f"step {step + 1}: relative error {error:.2e}"


def test_every_seed_has_a_reference():
    from tests.test_seeds_modern import MODERN_REFERENCES

    assert set(seed_names()) == set(OPTAX_COUNTERPARTS) | set(LOOKAHEAD_COUNTERPARTS) | {
        "adax", "lazy_adam"} | MODERN_REFERENCES


@pytest.mark.parametrize("name", sorted(OPTAX_COUNTERPARTS))
def test_seed_matches_optax(name, params):
    grads = gradient_sequence(params, STEPS)
    ours = trajectory(lion_search.to_optax(lion_search.load_program(name), LR), params, grads)
    reference = trajectory(OPTAX_COUNTERPARTS[name](LR), params, grads)
    assert_same_trajectory(ours, reference)


@pytest.mark.parametrize("name", sorted(LOOKAHEAD_COUNTERPARTS))
def test_lookahead_seeds_match_optax_fast_params(name, params):
    grads = gradient_sequence(params, STEPS)
    ours = trajectory(lion_search.to_optax(lion_search.load_program(name), LR), params, grads)
    reference = trajectory(LOOKAHEAD_COUNTERPARTS[name](LR), params, grads, lookahead=True)
    assert_same_trajectory(ours, reference)


def test_seed_with_a_schedule_matches_optax(params):
    schedule = optax.warmup_cosine_decay_schedule(0.0, LR, 10, STEPS)
    grads = gradient_sequence(params, STEPS)
    ours = trajectory(lion_search.to_optax(lion_search.load_program("adamw"), schedule),
                      params, grads)
    assert_same_trajectory(ours, trajectory(optax.adamw(schedule), params, grads))


def numpy_trajectory(rule, params, grads, n_memory):
    """Apply `rule(w, g, t, *memory) -> (update, *memory)` leaf by leaf in float64."""
    leaves, treedef = jax.tree.flatten(params)
    w = [np.asarray(x, np.float64) for x in leaves]
    memory = [[np.zeros_like(x) for x in w] for _ in range(n_memory)]
    path = []
    for t, g_tree in enumerate(grads, start=1):
        g = [np.asarray(x, np.float64) for x in jax.tree.leaves(g_tree)]
        for i in range(len(w)):
            update, *new = rule(w[i], g[i], t, *(m[i] for m in memory))
            w[i] = w[i] - update
            for m, value in zip(memory, new):
                m[i] = value
        path.append(treedef.unflatten([jnp.asarray(x, jnp.float32) for x in w]))
    return path


def adax_rule(w, g, t, m, v, b1=0.9, b2=1e-4, eps=1e-8):
    """AdaX as its paper writes it (Li et al., 2020, Algorithm 1)."""
    m = b1 * m + (1 - b1) * g
    v = (1 + b2) * v + b2 * g * g
    v_hat = v / ((1 + b2) ** t - 1)
    return LR * m / np.sqrt(v_hat + eps), m, v


def lazy_adam_rule(w, g, t, m, v, b1=0.9, b2=0.999, eps=1e-8):
    """Adam whose weight update is zero where the gradient is exactly zero."""
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    update = LR * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return np.where(g == 0, 0.0, update), m, v


@pytest.mark.parametrize("name,rule", [("adax", adax_rule), ("lazy_adam", lazy_adam_rule)])
def test_seed_matches_hand_written_reference(name, rule, params):
    grads = gradient_sequence(params, STEPS)
    ours = trajectory(lion_search.to_optax(lion_search.load_program(name), LR), params, grads)
    assert_same_trajectory(ours, numpy_trajectory(rule, params, grads, 2))


def test_lazy_adam_leaves_weights_with_zero_gradient_untouched(params):
    grads = gradient_sequence(params, 30)
    path = trajectory(lion_search.to_optax(lion_search.load_program("lazy_adam"), LR),
                      params, grads)
    before = params
    for g, after in zip(grads, path):
        for gl, bl, al in zip(*(jax.tree.leaves(x) for x in (g, before, after))):
            assert np.array_equal(np.asarray(al)[np.asarray(gl) == 0],
                                  np.asarray(bl)[np.asarray(gl) == 0])
        before = after
