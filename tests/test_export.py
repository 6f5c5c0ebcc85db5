"""Export: to_optax on any pytree and dtype under jit, and standalone modules that match it."""
import importlib.util
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lion_search
from lion_search.export.optax_module import write_optax_module
from lion_search.language.direct import run_program
from lion_search.language.library import seed_names
from lion_search.language.ops import CALLABLE_OPS, OPS
from tests.conftest import gradient_sequence, max_relative_error, seeds_with_slow_rest
from tests.test_interpret import STATIC_BRANCHES
from tests.test_seeds import trajectory

# One program that uses every op and input, so that the exported module carries each
# implementation.
EVERY_OP = "def every_op(w, g, lr, t, m, v):\n" + "".join(
    f"    x{i} = {name}({', '.join(['g', 'm', 'w'][:OPS[name].arity])})\n"
    for i, name in enumerate(CALLABLE_OPS)) + (
    "    total = " + " + ".join(f"x{i}" for i in range(len(CALLABLE_OPS)))
    + " + (rank + fan_in + fan_out) / T\n"
    "    m = interp(g, m, 0.9)\n"
    "    v = 0.001 * tanh(total)\n"
    "    return lr * (sign(m) + v), m, v\n")


def import_module(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Programs besides the seeds: one with every op, and static branches (test_interpret's).
PROGRAMS = {"every_op": EVERY_OP, **STATIC_BRANCHES}


# every_op carries every op's implementation; the other seeds run with -m slow.
@pytest.mark.parametrize("name", seeds_with_slow_rest(
    ("lion", "adafactor", "schedule_free_adamw", *PROGRAMS), seed_names() + list(PROGRAMS)))
def test_exported_module_matches_to_optax(name, tmp_path, params):
    program = (lion_search.parse_program(PROGRAMS[name]) if name in PROGRAMS
               else lion_search.load_program(name))
    module = import_module(write_optax_module(program, tmp_path / f"{name}_opt.py"))
    grads = gradient_sequence(params, 30)
    ours = trajectory(lion_search.to_optax(program, 0.01, total_steps=30), params, grads)
    theirs = trajectory(module.optimizer(0.01, total_steps=30), params, grads)
    for a, b in zip(ours, theirs):
        assert max_relative_error(b, a) <= 1e-6
    assert program.name in module.__doc__ and str(program).splitlines()[1].strip() in module.__doc__


def test_exported_module_imports_only_jax_and_optax(tmp_path):
    path = write_optax_module(lion_search.load_program("lion"), tmp_path / "lion_opt.py")
    imports = [line for line in path.read_text().splitlines() if line.startswith(("import", "from"))]
    assert imports == ["import functools", "from enum import Enum, IntEnum",
                       "from typing import Any, Callable, NamedTuple", "import jax",
                       "import jax.numpy as jnp", "import optax"]
    # It runs in a fresh interpreter where lion_search is never imported.
    code = ("import sys, jax.numpy as jnp, optax, lion_opt; tx = lion_opt.optimizer(1e-3); "
            "p = {'w': jnp.ones(3)}; s = tx.init(p); u, s = tx.update(p, s, p); "
            "assert 'lion_search' not in sys.modules; print(float(u['w'][0]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    assert float(out.stdout) == pytest.approx(-1e-3 * (1 + 1e-3))


def test_state_is_a_named_tuple_with_count_and_memory(params):
    tx = lion_search.to_optax(lion_search.load_program("adam"), 1e-3)
    state = tx.init(params)
    assert state._fields == ("count", "m", "v")
    assert int(state.count) == 0
    assert jax.tree.structure(state.m) == jax.tree.structure(params)
    _, state = jax.jit(tx.update)(params, state, params)
    assert int(state.count) == 1


def test_bfloat16_params_keep_their_dtype_and_follow_float32(params):
    program = lion_search.load_program("adamw")
    low = jax.tree.map(lambda x: x.astype(jnp.bfloat16), params)
    grads = gradient_sequence(params, 20)
    low_path = trajectory(lion_search.to_optax(program, 1e-2), low,
                          [jax.tree.map(lambda x: x.astype(jnp.bfloat16), g) for g in grads])
    high_path = trajectory(lion_search.to_optax(program, 1e-2), params, grads)
    tx = lion_search.to_optax(program, 1e-2)
    state = tx.init(low)
    updates, state = jax.jit(tx.update)(low, state, low)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves((updates, state.m, state.v)))
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(low_path[-1]))
    assert max_relative_error(jax.tree.map(lambda x: x.astype(jnp.float32), low_path[-1]),
                              high_path[-1]) < 0.05


def test_optax_schedule_is_fed_as_lr(params):
    schedule = optax.linear_schedule(1.0, 0.0, 10)
    tx = lion_search.to_optax(lion_search.load_program("sgd"), schedule)
    state = tx.init(params)
    g = jax.tree.map(jnp.ones_like, params)
    for count in range(3):
        updates, state = tx.update(g, state, params)
        np.testing.assert_allclose(updates["dense"]["bias"], -float(schedule(count)))


def test_update_without_params_says_what_is_missing(params):
    tx = lion_search.to_optax(lion_search.load_program("sgd"), 0.1)
    with pytest.raises(ValueError, match="pass params"):
        tx.update(params, tx.init(params))


@pytest.mark.parametrize("expression", [
    "log(0 * g)", "sqrt(-g)", "rsqrt(0 * g)", "g / 0", "0 / (0 * g)", "exp(1e4 * g)",
    "expm1(1e4 * g)", "cosh(1e4 * g)", "(-g) ** 0.5", "0 ** -g", "(1e-30 * g) ** -3",
    "g ** 1e4", "arcsin(3 * g)", "log1p(-1 - g)", "log1p(-1 + 0 * g)", "mod(g, 0)",
    "1e30 / (1e-30 * g)", "rsqrt(1e-45 * g)",
])
def test_safe_numerics_stay_finite(expression):
    program = lion_search.parse_program(f"def p(w, g, lr, t):\n    return {expression}\n")
    g = [jnp.array([-2.0, -1.0, 0.0, 0.5, 1.0, 2.0])]
    (update,) = run_program(program, g, g, jnp.float32(1.0), jnp.float32(1.0))
    assert np.all(np.isfinite(np.asarray(update[0])))


@pytest.mark.parametrize("name", ["schedule_free_adamw", "lookahead"])
def test_exported_module_gives_the_evaluation_weights(name, tmp_path, params):
    program = lion_search.load_program(name)
    module = import_module(write_optax_module(program, tmp_path / f"{name}_opt.py"))
    tx, exported = lion_search.to_optax(program, 0.01), module.optimizer(0.01)
    state, theirs = tx.init(params), exported.init(params)
    for g in gradient_sequence(params, 12):
        updates, state = tx.update(g, state, params)
        _, theirs = exported.update(g, theirs, params)
        params = optax.apply_updates(params, updates)
    ours = lion_search.eval_params(program, state, params)
    assert max_relative_error(module.eval_params(theirs, params), ours) <= 1e-6
    assert max_relative_error(ours, params) > 1e-4   # not the weights it steps


def test_exported_state_is_stored_at_the_slots_shapes_on_each_tensor(tmp_path):
    """Adafactor factors the 140 x 130 matrix alone: row and column statistics there, a full
    second moment for the small matrix and the vector, and zero-size placeholders elsewhere."""
    module = import_module(write_optax_module(lion_search.load_program("adafactor"),
                                        tmp_path / "adafactor_opt.py"))
    params = {"w": jnp.ones((140, 130)), "s": jnp.ones((6, 4)), "b": jnp.ones(4)}
    state = module.optimizer(1e-3).init(params)
    assert jax.tree.map(jnp.shape, (state.r, state.c, state.v)) == (
        {"w": (140, 1), "s": (0,), "b": (0,)}, {"w": (1, 130), "s": (0,), "b": (0,)},
        {"w": (0,), "s": (6, 4), "b": (4,)})
    assert jax.tree.map(jnp.shape, state) == jax.tree.map(
        jnp.shape, lion_search.to_optax(lion_search.load_program("adafactor"), 1e-3).init(params))
