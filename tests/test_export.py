"""Export: to_optax on any pytree and dtype under jit, and standalone modules of generated code
(optax here, torch in test_export_torch) that follow it step by step for every seed and for
random programs of the mutation operators, pass ruff and carry no interpreter."""
import ast
import importlib.util
import re
import shlex
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lion_search
from lion_search.cli.entry import main
from lion_search.export.optax_module import optax_source, write_optax_module
from lion_search.export.torch_module import torch_source
from lion_search.language.direct import run_program
from lion_search.language.library import seed_names
from lion_search.language.ops import CALLABLE_OPS, OPS
from lion_search.language.validate import Limits
from lion_search.search.mutate import mutate
from tests import export_checks as checks
from tests.conftest import gradient_sequence, max_relative_error, small_run
from tests.readme_blocks import commands, section_blocks
from tests.test_interpret import STATIC_BRANCHES
from tests.test_seeds import trajectory

# One program that uses every op and input, so that the exported module writes each.
EVERY_OP = "def every_op(w, g, lr, t, m, v):\n" + "".join(
    f"    x{i} = {name}({', '.join(['g', 'm', 'w'][:OPS[name].arity])})\n"
    for i, name in enumerate(CALLABLE_OPS)) + (
    "    total = " + " + ".join(f"x{i}" for i in range(len(CALLABLE_OPS)))
    + " + (rank + fan_in + fan_out) / T\n"
    "    m = interp(g, m, 0.9)\n"
    "    v = 0.001 * tanh(total)\n"
    "    return lr * (sign(m) + v), m, v\n")
# A static condition that needs an array op (sign): the module computes it at trace time.
ARRAY_CONDITION = ("def p(w, g, lr, t, m):\n    big = sign(fan_in - 100) > 0\n"
                   "    m = interp(g, m, where(big, 0.9, 0.5))\n    return lr * m, m\n")
# A global reduction of a value that needs another one: two passes before the step.
TWO_PASSES = ("def p(w, g, lr, t, m):\n    m = interp(g, m, 0.9)\n    a = global_norm(m)\n"
              "    return lr * m * global_mean(g / (a + 1)), m\n")
PROGRAMS = {"every_op": EVERY_OP, "array_condition": ARRAY_CONDITION, "two_passes": TWO_PASSES,
            **STATIC_BRANCHES}
SEEDS = {name: lion_search.load_program(name) for name in seed_names()}
LIMITS = Limits(max_length=max(len(p) for p in SEEDS.values()) + 4,
                max_memory=max(p.slots for p in SEEDS.values()) + 1)
STEPS = 20


def load(name):
    return lion_search.parse_program(PROGRAMS[name]) if name in PROGRAMS else SEEDS[name]


# ------------------------------------------------------------------ parity, every program

@pytest.mark.parametrize("name", seed_names() + list(PROGRAMS))
def test_every_seed_exported_to_optax_follows_to_optax_step_by_step(name, tmp_path):
    """Each step's params within 1e-6 (relative) of to_optax's, and the state at the same
    shapes (so the same memory cost)."""
    program = load(name)
    module = checks.write_optax(program, tmp_path)
    reference, state = checks.reference(program, STEPS)
    ours, ours_state = checks.optax_path(module.optimizer(checks.LR, total_steps=STEPS),
                                         checks.gradients(STEPS))
    errors = checks.step_errors(ours, reference)
    assert max(errors) <= checks.TOLERANCE, f"step {int(np.argmax(errors)) + 1}: {max(errors)}"
    assert jax.tree.map(jnp.shape, tuple(ours_state)) == jax.tree.map(jnp.shape, tuple(state))
    assert type(ours_state).__name__.endswith("State") and ours_state._fields == state._fields


def mutated(seed: int, mutations: int):
    """A seed after `mutations` random mutations: the programs a search meets."""
    rng = np.random.default_rng(seed)
    program = SEEDS[sorted(SEEDS)[rng.integers(len(SEEDS))]]
    for _ in range(mutations):
        program = mutate(program, rng, limits=LIMITS).program
    return program


def comparable(program, steps: int) -> bool:
    """Whether to_optax's trajectory stays bounded and moves less than the tolerance under
    rounding: a rounding-sized change of the gradients (1e-7 relative), compilation (XLA sums
    and fuses otherwise than eager dispatch) and float64. Only then can two float32
    implementations agree on a program to 1e-6: an ill-conditioned one amplifies a 1-ulp
    difference (1 - mean(0.999) over a tensor, the square root of a sum that cancels, a mean
    mod 0.001: jnp.mean and torch.mean round 49/60 apart)."""
    path, _ = checks.reference(program, steps)
    bounded = all(np.all(np.abs(np.asarray(x)) < 1e15) for p in path for x in jax.tree.leaves(p))
    return bounded and all(max(checks.step_errors(other, path)) < 3e-7 for other in (
        checks.reference(program, steps, 1e-7)[0], checks.reference(program, steps, jit=True)[0],
        checks.reference(program, steps, float64=True)[0]))


def check_random_program(seed: int, mutations: int, tmp_path) -> None:
    """The program's exports in both frameworks follow to_optax step by step, where the
    comparison can hold (`comparable`, asked only of a program that differs)."""
    program, steps = mutated(seed, mutations), 6
    module = checks.write_optax(program, tmp_path)
    path, state = checks.optax_path(module.optimizer(checks.LR, total_steps=steps),
                                     checks.gradients(steps))
    try:
        reference, reference_state = checks.reference(program, steps)
    except (ValueError, TypeError):  # the runtime itself fails on it
        return
    assert jax.tree.map(jnp.shape, tuple(state)) == jax.tree.map(jnp.shape,
                                                                 tuple(reference_state))
    paths = [path]
    if importlib.util.find_spec("torch") is not None:
        paths.append(checks.torch_path(checks.write_torch(program, tmp_path), steps)[0])
    for ours in paths:
        if max(checks.step_errors(ours, reference)) > checks.TOLERANCE:
            assert not comparable(program, steps), str(program)


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), mutations=st.integers(1, 4))
def test_random_programs_export_at_parity_in_optax_and_torch(seed, mutations, tmp_path):
    check_random_program(seed, mutations, tmp_path)


@pytest.mark.slow
@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), mutations=st.integers(1, 6))
def test_many_random_programs_export_at_parity(seed, mutations, tmp_path):
    check_random_program(seed, mutations, tmp_path)


# ------------------------------------------------------------------ what a module is

def test_exported_lion_is_the_program_in_jax_and_carries_no_interpreter(tmp_path):
    source = optax_source(lion_search.load_program("lion"), path="lion_opt.py")
    assert len(source.splitlines()) < 60
    step = source[source.rindex("\ndef lion(") + 1:source.index("\ndef optimizer(")]
    assert step.splitlines()[2:] == ["    c = 0.1 * g + 0.9 * m", "    m = 0.01 * g + 0.99 * m",
                                     "    return lr * (jnp.sign(c) + 0.001 * w), m", ""]
    names = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    assert not names & {"execute", "Code", "Plan", "planner", "apply", "FUNCTIONS", "CODE"}


@pytest.mark.parametrize("framework", ["optax", "torch"])
def test_no_seed_exports_over_120_lines(framework):
    render = optax_source if framework == "optax" else torch_source
    lines = {name: len(render(p).splitlines()) for name, p in SEEDS.items()}
    if framework == "optax":
        assert max(lines.values()) <= 120, lines
    assert lines["lion"] < 60 or framework == "torch"


def test_static_branches_are_python_ifs_and_slots_keep_their_shapes(tmp_path):
    source = optax_source(SEEDS["adafactor"])
    assert "    factored = min(fan_in, fan_out) >= 128\n    if factored:\n" in source
    assert "        return jnp.zeros_like(row_mean(w)), jnp.zeros_like(col_mean(w)), " \
           "jnp.zeros(0, w.dtype)" in source
    muon = optax_source(SEEDS["muon"])
    assert "    b = 0.95 if matrix else 0.9\n" in muon and "    if not matrix:\n        v = " in muon


def test_readme_shows_the_exported_lion_module_as_it_is(tmp_path, monkeypatch):
    (_, bash), (language, shown) = section_blocks("Export")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("lion_search.analysis.lr_check.lr_warning", lambda program: None)
    assert main(shlex.split(commands(bash)[0])[1:]) == 0
    assert language == "python" and shown == (tmp_path / "lion_opt.py").read_text()


def test_exported_module_imports_only_jax_and_optax(tmp_path):
    path = write_optax_module(lion_search.load_program("lion"), tmp_path / "lion_opt.py")
    imports = [line for line in path.read_text().splitlines() if line.startswith(("import", "from"))]
    assert imports == ["from collections.abc import Callable", "from typing import Any, NamedTuple",
                       "import jax", "import jax.numpy as jnp", "import optax"]
    # It runs in a fresh interpreter where lion_search is never imported.
    code = ("import sys, jax.numpy as jnp, optax, lion_opt; tx = lion_opt.optimizer(1e-3); "
            "p = {'w': jnp.ones(3)}; s = tx.init(p); u, s = tx.update(p, s, p); "
            "assert 'lion_search' not in sys.modules; print(float(u['w'][0]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    assert float(out.stdout) == pytest.approx(-1e-3 * (1 + 1e-3))


def ruff() -> list[str]:
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    if shutil.which("ruff"):
        return ["ruff"]
    pytest.skip("ruff is not installed (pip install -e '.[test]')")


def test_exported_modules_pass_ruff_with_its_default_rules(tmp_path):
    """Every seed and 60 random programs, in both frameworks (ruff's defaults: --isolated)."""
    programs = list(SEEDS.values()) + [load(name) for name in PROGRAMS] + [
        mutated(seed, 1 + seed % 4) for seed in range(60)]
    for i, program in enumerate(programs):
        (tmp_path / f"m{i}_opt.py").write_text(optax_source(program))
        (tmp_path / f"m{i}_torch.py").write_text(torch_source(program))
    out = subprocess.run(ruff() + ["check", "--isolated", "--quiet", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]


def test_a_static_condition_needing_an_array_op_runs_under_jit(tmp_path):
    program = load("array_condition")
    source = optax_source(program)
    assert "with jax.ensure_compile_time_eval():" in source
    module = checks.write_optax(program, tmp_path)
    grads = gradient_sequence(checks.PARAMS, 5)
    ours = trajectory(module.optimizer(0.01), checks.PARAMS, grads)
    theirs = trajectory(lion_search.to_optax(program, 0.01), checks.PARAMS, grads)
    assert max(max_relative_error(a, b) for a, b in zip(ours, theirs)) <= 1e-6


def test_reading_T_requires_total_steps(tmp_path):
    module = checks.write_optax(lion_search.parse_program(
        "def decay(w, g, lr, t):\n    return lr * (1 - t / T) * g\n"), tmp_path)
    with pytest.raises(ValueError, match="total_steps"):
        module.optimizer(0.1)


@pytest.mark.parametrize("name", ["schedule_free_adamw", "lookahead"])
def test_exported_module_gives_the_evaluation_weights(name, tmp_path, params):
    program = lion_search.load_program(name)
    module = checks.write_optax(program, tmp_path)
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
    module = checks.write_optax(lion_search.load_program("adafactor"), tmp_path)
    params = {"w": jnp.ones((140, 130)), "s": jnp.ones((6, 4)), "b": jnp.ones(4)}
    state = module.optimizer(1e-3).init(params)
    assert jax.tree.map(jnp.shape, (state.r, state.c, state.v)) == (
        {"w": (140, 1), "s": (0,), "b": (0,)}, {"w": (1, 130), "s": (0,), "b": (0,)},
        {"w": (0,), "s": (6, 4), "b": (4,)})
    assert jax.tree.map(jnp.shape, state) == jax.tree.map(
        jnp.shape, lion_search.to_optax(lion_search.load_program("adafactor"), 1e-3).init(params))


# ------------------------------------------------------------------ a search's best, exported

def test_a_fresh_runs_best_exports_and_trains_a_task_of_its_own(tmp_path_factory, tmp_path):
    """`lion-search export RUN:best` of a fresh small search (quadratic task) gives a module
    that fits a least-squares problem it never saw, in optax and in torch."""
    run = small_run(tmp_path_factory)
    out = tmp_path / "best_opt.py"
    assert main(["export", f"{run}:best", "-o", str(out)]) == 0
    module = checks.import_path(out)
    learning_rate = float(re.search(r"learning_rate=([0-9.e-]+)", out.read_text()).group(1))
    rng = np.random.default_rng(3)
    x, target = jnp.asarray(rng.normal(size=(64, 8))), jnp.asarray(rng.normal(size=(8, 2)))
    y = x @ target

    def loss(params):
        return jnp.mean(jnp.square(x @ params["w"] + params["b"] - y))

    params = {"w": jnp.zeros((8, 2)), "b": jnp.zeros(2)}
    # The suggested lr is the peak of the search's schedule: it decays here too.
    tx = module.optimizer(optax.cosine_decay_schedule(learning_rate, 200), total_steps=200)
    state, start = tx.init(params), float(loss(params))
    step = jax.jit(lambda p, s: tx.update(jax.grad(loss)(p), s, p))
    for _ in range(200):
        updates, state = step(params, state)
        params = optax.apply_updates(params, updates)
    assert float(loss(params)) < 0.5 * start
    torch = pytest.importorskip("torch")
    out = tmp_path / "best_torch.py"
    assert main(["export", f"{run}:best", "-o", str(out), "--framework", "torch"]) == 0
    cls = next(v for v in vars(checks.import_path(out)).values()
               if isinstance(v, type) and issubclass(v, torch.optim.Optimizer)
               and v is not torch.optim.Optimizer)
    model = torch.nn.Linear(8, 2)
    optimizer = cls(model.parameters(), lr=learning_rate, total_steps=200)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, 200)
    xt, yt = torch.tensor(np.asarray(x), dtype=torch.float32), torch.tensor(np.asarray(y),
                                                                           dtype=torch.float32)
    with torch.no_grad():
        start = float(torch.mean(torch.square(model(xt) - yt)))
    for _ in range(200):
        optimizer.zero_grad()
        torch.mean(torch.square(model(xt) - yt)).backward()
        optimizer.step()
        scheduler.step()
    with torch.no_grad():
        assert float(torch.mean(torch.square(model(xt) - yt))) < 0.5 * start


# ------------------------------------------------------------------ to_optax itself

def test_state_is_a_named_tuple_with_count_and_memory(params):
    tx = lion_search.to_optax(lion_search.load_program("adam"), 1e-3)
    state = tx.init(params)
    assert state._fields == ("count", "m", "v")
    assert int(state.count) == 0
    assert jax.tree.structure(state.m) == jax.tree.structure(params)
    _, state = jax.jit(tx.update)(params, state, params)
    assert int(state.count) == 1


def test_bfloat16_params_keep_their_dtype_and_follow_float32(params, tmp_path):
    program = lion_search.load_program("adamw")
    low = jax.tree.map(lambda x: x.astype(jnp.bfloat16), params)
    grads = gradient_sequence(params, 20)
    low_grads = [jax.tree.map(lambda x: x.astype(jnp.bfloat16), g) for g in grads]
    low_path = trajectory(lion_search.to_optax(program, 1e-2), low, low_grads)
    high_path = trajectory(lion_search.to_optax(program, 1e-2), params, grads)
    exported = trajectory(checks.write_optax(program, tmp_path).optimizer(1e-2), low, low_grads)
    tx = lion_search.to_optax(program, 1e-2)
    state = tx.init(low)
    updates, state = jax.jit(tx.update)(low, state, low)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves((updates, state.m, state.v)))
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves((low_path[-1], exported[-1])))
    assert max_relative_error(jax.tree.map(lambda x: x.astype(jnp.float32), low_path[-1]),
                              high_path[-1]) < 0.05
    assert max_relative_error(jax.tree.map(lambda x: x.astype(jnp.float32), exported[-1]),
                              jax.tree.map(lambda x: x.astype(jnp.float32), low_path[-1])) < 1e-2


def test_optax_schedule_is_fed_as_lr(params, tmp_path):
    schedule = optax.linear_schedule(1.0, 0.0, 10)
    program = lion_search.load_program("sgd")
    for tx in (lion_search.to_optax(program, schedule),
               checks.write_optax(program, tmp_path).optimizer(schedule)):
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
def test_safe_numerics_stay_finite(expression, tmp_path):
    program = lion_search.parse_program(f"def p(w, g, lr, t):\n    return {expression}\n")
    g = [jnp.array([-2.0, -1.0, 0.0, 0.5, 1.0, 2.0])]
    (update,) = run_program(program, g, g, jnp.float32(1.0), jnp.float32(1.0))
    assert np.all(np.isfinite(np.asarray(update[0])))
    tx = checks.write_optax(program, tmp_path).optimizer(1.0)
    exported, _ = tx.update(g, tx.init(g), g)
    np.testing.assert_array_equal(np.asarray(exported[0]), -np.asarray(update[0]))
