"""Shapes: the lattice, slot shapes, per-tensor plans, stored state, memory costs and the
shape-aware ops."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optax.contrib._muon import orthogonalize_via_newton_schulz

import lion_search
from lion_search.language import runtime
from lion_search.language.ops import Shape, join
from lion_search.language.plan import Mode
from lion_search.evaluation.tasks import tensor_facts_of
from lion_search.language.library import seed_names
from lion_search.language.shapes import (
    REFERENCE_SHAPES,
    memory_cost,
    plan_for,
    slot_shapes,
    tensor_plan,
    tensor_plans,
)
from lion_search.language.validate import Limits, check, fitting
from lion_search.runs.references import load_program
from lion_search.search.mutate import MutationWeights, mutate
from lion_search.simplify.dead_code import remove_dead

S, P, R, C, T = Shape.SCALAR, Shape.PER_TENSOR, Shape.ROW, Shape.COL, Shape.TENSOR


def test_join_is_the_least_upper_bound_of_the_lattice():
    below = {S: {S}, P: {S, P}, R: {S, P, R}, C: {S, P, C}, T: {S, P, R, C, T}}
    for a, b in itertools.product(Shape, repeat=2):
        upper = [u for u in Shape if a in below[u] and b in below[u]]
        assert join(a, b) in upper and all(join(a, b) in below[u] for u in upper)
    assert join(R, C) is T and join(R, P) is R and join() is S


def program(text):
    return lion_search.parse_program(text)


def test_slots_take_the_shape_of_what_is_written_to_them():
    p = program("def p(w, g, lr, t, a, r, c, s, m):\n"
                "    a = a + lr ** 2\n"            # scalar
                "    r = interp(row_mean(g * g), r, 0.9)\n"
                "    c = interp(col_mean(g * g), c, 0.9)\n"
                "    s = max(s, rms(g))\n"         # per tensor
                "    m = interp(g, m, 0.9)\n"
                "    return lr * m * rsqrt(r * c) / (1 + a + s), a, r, c, s, m\n")
    assert slot_shapes(p) == (S, R, C, P, T)
    assert plan_for(p, ((6, 4), (4,))).slots == tuple((s, s) for s in slot_shapes(p))


def test_a_slot_fed_back_from_a_wider_value_widens():
    # b reads a (row-shaped) and g: a fixed point, not one pass, gives b TENSOR
    p = program("def p(w, g, lr, t, a, b):\n    a = row_mean(b)\n    b = a + g\n"
                "    return lr * b, a, b\n")
    assert slot_shapes(p) == (R, T)


@pytest.mark.parametrize("name,low,high", [("adam", 2, 2), ("sgd", 0, 0), ("lion", 1, 1),
                                           ("adafactor", 0.0, 0.01),
                                           ("schedule_free_adamw", 2, 2.001),
                                           ("prodigy", 4, 4.001)])
def test_memory_cost_is_the_fraction_of_full_copies_stored(name, low, high):
    assert low <= memory_cost(load_program(name)) <= high


def test_adafactor_state_is_stored_factored_where_it_factors():
    params = {"w": jnp.ones((140, 130)), "b": jnp.ones(7), "k": jnp.ones((2, 3, 4))}
    tx = lion_search.to_optax(load_program("adafactor"), 1e-3)
    state = tx.init(params)
    shapes = jax.tree.map(jnp.shape, (state.r, state.c, state.v))
    assert shapes == ({"w": (140, 1), "b": (0,), "k": (0,)}, {"w": (1, 130), "b": (0,), "k": (0,)},
                      {"w": (0,), "b": (7,), "k": (2, 3, 4)})
    _, state = jax.jit(tx.update)(params, state, params)
    assert jax.tree.map(jnp.shape, (state.r, state.c, state.v)) == shapes


# Each tensor takes one branch of a where on its rank: a row statistic for matrices, the
# squared gradient itself for the rest; the slot s is read on the matrices' branch alone.
PER_KIND = """def per_kind(w, g, lr, t, v, s):
    matrix = rank >= 2
    v = interp(where(matrix, row_mean(g * g), g * g), v, 0.99)
    s = interp(g, s, 0.9)
    return lr * where(matrix, s, g) * rsqrt(v + 1e-8), v, s
"""


def test_a_static_where_takes_one_branch_per_tensor():
    p = program(PER_KIND)
    plan = plan_for(p, ((6, 4), (4,), (2, 3, 4)))
    assert plan.slots == ((R, T, R), (T, None, T))
    where_v = next(i for i, ins in enumerate(p.body) if ins.op == "where")
    assert plan.modes[where_v] == (Mode.TAKE_A, Mode.TAKE_B, Mode.TAKE_A)
    # the row mean is computed on the matrices only
    row_mean = next(i for i, ins in enumerate(p.body) if ins.op == "row_mean")
    assert plan.modes[row_mean] == (Mode.RUN, Mode.DEAD, Mode.RUN)
    # the program-wide shapes bound every tensor's
    assert slot_shapes(p) == (T, T)


def test_a_program_run_by_its_plan_steps_as_written_and_stores_what_it_reads_again():
    p = program(PER_KIND)
    params = {"m": jnp.arange(24.0).reshape(6, 4) / 24, "b": jnp.ones(4)}
    tx = lion_search.to_optax(p, 0.1)
    state = tx.init(params)
    assert jax.tree.map(jnp.shape, (state.v, state.s)) == ({"b": (4,), "m": (6, 1)},
                                                           {"b": (0,), "m": (6, 4)})
    g = jax.tree.map(lambda x: jnp.sin(3 * x), params)
    v, s = {"m": jnp.zeros((6, 1)), "b": jnp.zeros(4)}, {"m": jnp.zeros((6, 4))}
    for _ in range(3):
        updates, state = tx.update(g, state, params)
        g2 = {k: x * x for k, x in g.items()}
        v = {"m": 0.01 * jnp.mean(g2["m"], -1, keepdims=True) + 0.99 * v["m"],
             "b": 0.01 * g2["b"] + 0.99 * v["b"]}
        s = {"m": 0.1 * g["m"] + 0.9 * s["m"]}
        expected = {"m": -0.1 * s["m"] / jnp.sqrt(v["m"] + 1e-8),
                    "b": -0.1 * g["b"] / jnp.sqrt(v["b"] + 1e-8)}
        for k in params:
            np.testing.assert_allclose(updates[k], expected[k], rtol=1e-5)
    np.testing.assert_allclose(state.v["m"], v["m"], rtol=1e-6)


def test_a_global_reduction_reads_its_argument_on_every_tensor():
    """Only matrices use global_norm(m), which sums m over every tensor: m is stored for all."""
    p = program("def p(w, g, lr, t, m):\n    m = interp(g, m, 0.9)\n"
                "    return lr * where(rank == 2, g / (global_norm(m) + 1), g), m\n")
    assert plan_for(p, ((6, 4), (4,))).slots == ((T, T),)
    assert plan_for(p, ((4,), (5,))).slots == ((None, None),)   # no matrix: no tensor reads m


def test_a_branch_no_reference_tensor_takes_costs_nothing_but_stays_in_the_program():
    """Momentum for tensors of rank >= 3 only: the reference block (matrices and vectors)
    stores nothing for it, simplification keeps it, and a kernel stores it."""
    p = program("def p(w, g, lr, t, m):\n    m = interp(g, m, 0.9)\n"
                "    return lr * where(rank >= 3, m, g), m\n")
    assert max(len(s) for s in REFERENCE_SHAPES) < 3 and memory_cost(p) == 0
    assert remove_dead(p) == p
    assert memory_cost(p, ((3, 3, 8), (8,))) == pytest.approx(72 / 80)
    state = lion_search.to_optax(p, 0.1).init({"k": jnp.ones((3, 3, 8)), "b": jnp.ones(8)})
    assert jax.tree.map(jnp.shape, state.m) == {"k": (3, 3, 8), "b": (0,)}


def test_muon_pays_for_its_momentum_alone():
    assert memory_cost(load_program("muon")) <= 1.1


def test_evaluation_weights_must_not_depend_on_g_or_lr():
    base = "def p(w, g, lr, t, s):\n    s = interp(w, s, 0.9)\n"
    assert check(program(base + "    return lr * g, s, eval_at(s * t)\n")) is None
    for bad in ("g", "lr * w", "s + g"):
        assert "evaluation weights depend" in check(program(base + f"    return lr * g, s, "
                                                             f"eval_at({bad})\n"))


def test_row_and_col_mean_average_the_last_two_axes():
    x = np.arange(24.0, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_allclose(runtime.op_row_mean(x), x.mean(axis=-1, keepdims=True))
    np.testing.assert_allclose(runtime.op_col_mean(x), x.mean(axis=-2, keepdims=True))
    v = np.arange(5.0, dtype=np.float32)
    assert runtime.op_row_mean(v) is v and runtime.op_col_mean(v) is v


@pytest.mark.parametrize("shape", [(8, 20), (20, 8), (16, 16)])
def test_orthogonalize_is_muons_newton_schulz(shape):
    x = jax.random.normal(jax.random.PRNGKey(0), shape)
    ours = runtime.op_orthogonalize(x)
    theirs = orthogonalize_via_newton_schulz(x, jnp.asarray((3.4445, -4.7750, 2.0315)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    singular = np.linalg.svd(np.asarray(ours), compute_uv=False)
    assert singular.min() > 0.5 and singular.max() < 1.5   # near-orthogonal, as Muon's is


def test_orthogonalize_leaves_other_ranks_unchanged():
    for shape in [(), (5,), (2, 3, 4)]:
        x = jnp.ones(shape)
        assert runtime.op_orthogonalize(x) is x


def test_shape_inputs_follow_the_documented_convention():
    rank, fan_in, fan_out, steps = runtime.shape_inputs(
        [jnp.ones(()), jnp.ones(7), jnp.ones((3, 5)), jnp.ones((2, 3, 4))], 100)
    assert [float(x) for x in rank] == [0, 1, 2, 3]
    assert [float(x) for x in fan_in] == [1, 1, 3, 3]
    assert [float(x) for x in fan_out] == [1, 7, 5, 4]
    assert float(steps) == 100


def test_a_program_that_reads_t_needs_total_steps():
    with pytest.raises(lion_search.LionSearchError, match="total_steps"):
        lion_search.to_optax(load_program("powersign"), 1e-3)


def test_programs_lists_muon_at_its_momentum_and_adafactor_at_its_factored_state(capsys):
    """`lion-search programs`: Muon 1 (a momentum; its Adam moment only for the vectors of the
    reference block), Adafactor 0.0041 (row and column statistics for its two matrices, a full
    second moment for its four vectors)."""
    from lion_search.cli.entry import main

    assert main(["programs"]) == 0
    rows = {cells[1].strip(): cells[2].strip() for line in capsys.readouterr().out.splitlines()
            if len(cells := line.split("│")) > 3}
    assert float(rows["muon"]) <= 1.1 and rows["adafactor"] == "0.0041"


TASKS_FACTS = [tuple(tensor_facts_of(task)) for task in
               ("digits-mlp-b512", "digits-cnn", "text-lm-mini", "rosenbrock")]


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(seed_names()), seed=st.integers(0, 2**32 - 1),
       lists=st.lists(st.sampled_from(TASKS_FACTS), min_size=1, max_size=5))
def test_plans_made_together_are_the_plans_made_one_by_one(name, seed, lists):
    """`tensor_plans` shares what several lists of tensors have in common (static branches,
    liveness) and gives each list the plan `tensor_plan` gives it alone, for mutants that
    branch on a tensor's facts."""
    rng = np.random.default_rng(seed)
    program = load_program(name)
    limits = fitting(Limits(), [program], extra_length=3)   # as a search widens them to a seed
    for _ in range(3):
        program = mutate(program, rng, MutationWeights(static_branch=5.0), limits).program
    assert tensor_plans(program, tuple(lists)) == [tensor_plan(program, facts)
                                                   for facts in lists]
