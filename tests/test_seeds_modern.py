"""The seed programs of today's optimizers against their references: optax's trajectory where
optax has the optimizer (on a pytree whose matrices optax factors and orthogonalizes), and
small jnp implementations of the papers' rules otherwise. Each trajectory runs as one jitted
scan over the steps."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lion_search
from lion_search.language.plan import Shape
from lion_search.language.shapes import REFERENCE_SHAPES, memory_cost, plan_for
from tests.conftest import gradient_sequence, make_params

STEPS = 120
LR = 0.01
TOLERANCE = 1e-4

# name: (optax optimizer of the learning rate, the learning rate to compare at)
OPTAX_COUNTERPARTS = {
    "adafactor": (optax.adafactor, LR),
    "muon": (optax.contrib.muon, LR),
    "schedule_free_adamw": (optax.contrib.schedule_free_adamw, LR),
    "ademamix": (optax.contrib.ademamix, LR),
    "adopt": (optax.contrib.adopt, LR),
    "lamb": (optax.lamb, LR),
    "lars": (optax.lars, LR),
    "nadamw": (optax.nadamw, LR),
}


def ours(name, lr=LR):
    return lion_search.to_optax(lion_search.load_program(name), lr, total_steps=STEPS)


def stack(trees):
    """A list of pytrees as one pytree of arrays with a leading step axis."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def scan_trajectory(tx, params, noise, evaluate=None, gradient=None):
    """The parameters after each step of `tx` (and, with `evaluate(state, params)`, what it
    returns after each step), stacked by step. The gradients are the stacked `noise`, or
    `gradient(params, noise)` of the current params."""
    def step(carry, n):
        params, state = carry
        g = n if gradient is None else gradient(params, n)
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
        return (params, state), (params if evaluate is None else (params, evaluate(state, params)))

    return jax.jit(lambda p, ns: jax.lax.scan(step, (p, tx.init(p)), ns)[1])(params, noise)


@jax.jit
def relative_errors(ours, reference):
    """Per step, the largest over leaves of ||ours - reference|| / max(||reference||, 1e-6)."""
    def leaf(a, b):
        a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
        return jnp.linalg.norm(a - b, axis=1) / jnp.maximum(jnp.linalg.norm(b, axis=1), 1e-6)

    return jnp.max(jnp.stack(jax.tree.leaves(jax.tree.map(leaf, ours, reference))), axis=0)


def assert_same_trajectory(ours, reference, tol=TOLERANCE):
    errors = relative_errors(ours, reference)
    worst = int(jnp.argmax(errors))
    assert errors.shape == (STEPS,) and float(errors[worst]) <= tol, \
        f"step {worst + 1}: relative error {float(errors[worst]):.2e}"


@pytest.fixture(scope="module")
def big_grads(big_params):
    return stack(gradient_sequence(big_params, STEPS))


@pytest.mark.parametrize("name", sorted(set(OPTAX_COUNTERPARTS) - {"schedule_free_adamw"}))
def test_seed_matches_optax(name, big_params, big_grads):
    optimizer, lr = OPTAX_COUNTERPARTS[name]
    assert_same_trajectory(scan_trajectory(ours(name, lr), big_params, big_grads),
                           scan_trajectory(optimizer(lr), big_params, big_grads))


def noisy_quadratic(params):
    """The gradient of 0.5 ||w - target||^2 plus the noise, zero where the noise is exactly zero.
    (Random gradients alone leave Prodigy's d at d0: they do not correlate with w0 - w.)"""
    target = jax.tree.map(lambda p: jnp.roll(p, 1) + 1.0, params)
    return lambda w, noise: jax.tree.map(
        lambda w, target, n: jnp.where(n != 0, w - target + n, 0.0), w, target, noise)


def test_prodigy_matches_optax_as_its_step_size_estimate_grows(big_params, big_grads):
    lr = 0.5
    gradient = noisy_quadratic(big_params)
    path, d = scan_trajectory(ours("prodigy", lr), big_params, big_grads,
                              lambda state, params: state.d, gradient)
    ref_path, ref_d = scan_trajectory(optax.contrib.prodigy(lr), big_params, big_grads,
                                      lambda state, params: state.estim_lr, gradient)
    assert float(ref_d[-1]) > 1e4 * float(ref_d[0])  # d grew from d0 = 1e-6 ...
    assert float(ref_d[-1]) == float(ref_d[-20])      # ... until the estimate fell below it
    assert_same_trajectory(path, ref_path)
    for leaf in jax.tree.leaves(d):  # a scalar slot: the same d for every tensor
        assert float(jnp.max(jnp.abs(leaf / ref_d - 1))) <= TOLERANCE


def make_mixed_params():
    """A pytree that mixes the tensors optax's Adafactor and Muon treat apart: a 140 x 130
    matrix (factored, orthogonalized), a 20 x 12 one (orthogonalized, not factored), vectors
    and a 3 x 3 x 8 kernel (neither)."""
    rng = np.random.default_rng(0)
    shapes = {"big": (140, 130), "small": (20, 12), "bias": (130,), "gain": (12,),
              "kernel": (3, 3, 8)}
    return {k: jnp.asarray(rng.normal(size=s) / (10 if k == "big" else 1), jnp.float32)
            for k, s in shapes.items()}


@pytest.fixture(scope="module")
def mixed_params():
    return make_mixed_params()


@pytest.fixture(scope="module")
def mixed_grads(mixed_params):
    return stack(gradient_sequence(mixed_params, STEPS))


@pytest.mark.parametrize("name", ["adafactor", "muon"])
def test_seeds_follow_optax_per_kind_of_tensor(name, mixed_params, mixed_grads):
    """Adafactor factors the 140 x 130 matrix alone and Muon orthogonalizes both matrices,
    with optax's default settings, each tensor keeping only the state its branch reads."""
    optimizer, lr = OPTAX_COUNTERPARTS[name]
    assert_same_trajectory(scan_trajectory(ours(name, lr), mixed_params, mixed_grads),
                           scan_trajectory(optimizer(lr), mixed_params, mixed_grads))


def test_schedule_free_params_and_evaluation_params_match_optax(big_params, big_grads):
    program = lion_search.load_program("schedule_free_adamw")
    tx = ours("schedule_free_adamw")
    before = jax.jit(lambda w: lion_search.eval_params(program, tx.init(w), w,
                                                       total_steps=STEPS))(big_params)
    assert float(jnp.max(relative_errors(stack([before]), stack([big_params])))) < 1e-6
    path, evaluated = scan_trajectory(
        tx, big_params, big_grads,
        lambda state, w: lion_search.eval_params(program, state, w, total_steps=STEPS))
    ref_path, ref_evaluated = scan_trajectory(
        optax.contrib.schedule_free_adamw(LR), big_params, big_grads,
        optax.contrib.schedule_free_eval_params)
    assert_same_trajectory(path, ref_path)
    assert_same_trajectory(evaluated, ref_evaluated)


@pytest.mark.parametrize("name,inner,period", [("lookahead", optax.adam, 5),
                                                ("ranger", optax.radam, 6)])
def test_lookahead_seeds_evaluate_at_optax_slow_params(name, inner, period, params):
    program = lion_search.load_program(name)
    grads = stack(gradient_sequence(params, STEPS))
    _, evaluated = scan_trajectory(
        ours(name), params, grads,
        lambda state, w: lion_search.eval_params(program, state, w, total_steps=STEPS))
    reference = optax.lookahead(inner(LR), sync_period=period, slow_step_size=0.5)
    slow = scan_trajectory(reference, optax.LookaheadParams.init_synced(params), grads).slow
    assert_same_trajectory(evaluated, slow)


# ------------------------------------------------------------- references from the papers' rules

def cautious_adamw_rule(w, g, t, m, v, lr=LR, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4):
    """C-AdamW (Liang et al., 2024, arXiv 2411.16085, and github.com/kyleliang919/C-Optim):
    the AdamW direction where it agrees in sign with the gradient, rescaled by the mask's mean
    (floored at 1e-3); decoupled weight decay, not masked."""
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    u = (m / (1 - b1 ** t)) / (jnp.sqrt(v / (1 - b2 ** t)) + eps)
    mask = (u * g > 0).astype(u.dtype)
    return w - lr * (u * mask / jnp.maximum(jnp.mean(mask), 1e-3) + weight_decay * w), m, v


def linear_decay(t):
    """Bello et al. (2017)'s linear decay ld = 1 - t / T."""
    return jnp.maximum(1 - t / STEPS, 0.0)


def powersign_rule(w, g, t, m, lr=LR, beta=0.9, alpha=jnp.e):
    """PowerSign (Bello et al., 2017): alpha^(f(t) sign(g) sign(m)) g."""
    m = beta * m + (1 - beta) * g
    return w - lr * alpha ** (linear_decay(t) * jnp.sign(g) * jnp.sign(m)) * g, m


def addsign_rule(w, g, t, m, lr=LR, beta=0.9, alpha=1.0):
    """AddSign (Bello et al., 2017): (alpha + f(t) sign(g) sign(m)) g."""
    m = beta * m + (1 - beta) * g
    return w - lr * (alpha + linear_decay(t) * jnp.sign(g) * jnp.sign(m)) * g, m


def rule_trajectory(rule, params, grads, n_memory):
    """The parameters after each step of `rule(w, g, t, *memory) -> (w, *memory)`, applied leaf
    by leaf in float32 with plain jnp, stacked by step."""
    treedef = jax.tree.structure(params)

    def step(carry, g_t):
        g, t = g_t
        out = jax.tree.map(lambda w, g, *memory: rule(w, g, t, *memory), carry[0], g, *carry[1:])
        carry = tuple(treedef.unflatten(c) for c in zip(*treedef.flatten_up_to(out)))
        return carry, carry[0]

    memory = tuple(jax.tree.map(jnp.zeros_like, params) for _ in range(n_memory))
    ts = jnp.arange(1, STEPS + 1, dtype=jnp.float32)
    return jax.jit(lambda p, gs: jax.lax.scan(step, (p, *memory), (gs, ts))[1])(params, grads)


PAPER_REFERENCES = {
    "cautious_adamw": (cautious_adamw_rule, 2),
    "powersign": (powersign_rule, 1),
    "addsign": (addsign_rule, 1),
}


@pytest.mark.parametrize("name", sorted(PAPER_REFERENCES))
def test_seed_matches_its_paper(name, big_params, big_grads):
    rule, n_memory = PAPER_REFERENCES[name]
    assert_same_trajectory(scan_trajectory(ours(name), big_params, big_grads),
                           rule_trajectory(rule, big_params, big_grads, n_memory))


def test_the_sign_seeds_need_the_total_number_of_steps():
    with pytest.raises(lion_search.LionSearchError, match="total_steps"):
        lion_search.to_optax(lion_search.load_program("powersign"), LR)


def test_state_is_stored_at_its_shape_on_each_tensor():
    """Adafactor keeps row and column statistics for the matrices it factors and a full second
    moment for the rest; Muon keeps its Adam moment for the tensors that are not 2-D alone;
    Schedule-Free's and Prodigy's scalars are scalar slots. The optax states hold what the
    optimizers really store (a zero-size placeholder where a slot is not stored), and the
    memory costs on the reference block count it."""
    seeds = {name: lion_search.load_program(name)
             for name in ("adafactor", "muon", "schedule_free_adamw", "prodigy")}
    matrix, vector = Shape.TENSOR, Shape.TENSOR
    assert plan_for(seeds["adafactor"], REFERENCE_SHAPES).slots[:2] == (
        (Shape.ROW, None, Shape.ROW, None, None, None), (Shape.COL, None, Shape.COL, None, None, None))
    assert plan_for(seeds["muon"], REFERENCE_SHAPES).slots[1] == (None, vector, None) + (vector,) * 3
    assert plan_for(seeds["muon"], REFERENCE_SHAPES).slots[0] == (matrix,) * 6
    entries = sum(np.prod(s) for s in REFERENCE_SHAPES)
    assert memory_cost(seeds["adafactor"]) == pytest.approx((2 * (512 + 2048) + 3584) / entries)
    assert memory_cost(seeds["muon"]) == pytest.approx(1 + 3584 / entries)
    assert memory_cost(seeds["schedule_free_adamw"]) < 2.001  # a scalar per tensor for each
    assert memory_cost(seeds["prodigy"]) < 4.001               # scalar slot
    state = ours("adafactor").init(make_mixed_params())
    assert jax.tree.map(jnp.shape, (state.r, state.c, state.v)) == (
        {"big": (140, 1), "small": (0,), "bias": (0,), "gain": (0,), "kernel": (0,)},
        {"big": (1, 130), "small": (0,), "bias": (0,), "gain": (0,), "kernel": (0,)},
        {"big": (0,), "small": (20, 12), "bias": (130,), "gain": (12,), "kernel": (3, 3, 8)})
    state = ours("muon").init(make_params())
    assert [x.shape for x in jax.tree.leaves(state.v)] == [(3,), (0,), (5,), ()]


MODERN_REFERENCES = set(OPTAX_COUNTERPARTS) | set(PAPER_REFERENCES) | {"prodigy"}
