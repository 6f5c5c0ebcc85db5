"""The PyTorch export: every seed as a torch.optim.Optimizer follows to_optax's trajectory."""
import ast
import functools
import importlib.util
import io
import shlex
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import lion_search  # noqa: E402
from lion_search.export.torch_module import slot_keys, torch_source  # noqa: E402
from lion_search.language.library import seed_names  # noqa: E402
from lion_search.language.shapes import stored_shapes  # noqa: E402
from tests.conftest import gradient_sequence  # noqa: E402
from tests.readme_blocks import commands, section_blocks  # noqa: E402
from tests.test_interpret import STATIC_BRANCHES, load  # noqa: E402
from tests.test_seeds_modern import OPTAX_COUNTERPARTS, make_mixed_params  # noqa: E402

STEPS, LR, RESUME_AT = 100, 0.01, 50


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Torch's intra-op threads only contend on a small shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_params(dtype=jnp.float32):
    """Nested params: a tall matrix >= 130 x 130 (Adafactor's row and column slots, Muon's
    Newton-Schulz on its transpose), a vector, a 3-D tensor and a 0-d scalar."""
    rng = np.random.default_rng(0)
    return {"dense": {"kernel": jnp.asarray(rng.normal(size=(131, 130)), dtype),
                      "bias": jnp.asarray(rng.normal(size=(130,)), dtype)},
            "blocks": [jnp.asarray(rng.normal(size=(3, 4, 5)), dtype),
                       (jnp.asarray(rng.normal(), dtype),)]}


@pytest.fixture(scope="module")
def params():
    return make_params()


@pytest.fixture(scope="module")
def grads(params):
    return gradient_sequence(params, STEPS)


def load_optimizer(program, folder):
    """The optimizer class of `program`'s exported torch module (written to `folder`)."""
    path = folder / f"{program.name}_torch.py"
    path.write_text(torch_source(program, path=path.name))
    spec = importlib.util.spec_from_file_location(f"torch_export_{program.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return next(v for v in vars(module).values() if isinstance(v, type)
                and issubclass(v, module.ProgramOptimizer) and v is not module.ProgramOptimizer)


def jax_trajectory(program, params, grads, learning_rate=LR):
    """(to_optax's params after each step, its final state)."""
    tx = lion_search.to_optax(program, learning_rate, total_steps=STEPS)
    def step(g, state, params):
        updates, state = tx.update(g, state, params)
        return optax.apply_updates(params, updates), state

    state, path = tx.init(params), []
    # Compiled once per program; LLVM's optimization level 0 compiles in half the time.
    step = jax.jit(step).lower(grads[0], state, params).compile(
        {"xla_backend_optimization_level": 0})
    for g in grads:
        params, state = step(g, state, params)
        path.append(params)
    return path, state


def to_torch(tree, dtype=torch.float32):
    return [torch.nn.Parameter(torch.tensor(np.asarray(x, np.float32), dtype=dtype))
            for x in jax.tree.leaves(tree)]


def run(optimizer, params, grads, steps):
    """Step `optimizer` on `grads[steps]`; the params (as numpy) after each step."""
    path = []
    for step in steps:
        for p, g in zip(params, jax.tree.leaves(grads[step])):
            p.grad = torch.tensor(np.asarray(g, np.float32), dtype=p.dtype)
        optimizer.step()
        path.append([p.detach().float().numpy().copy() for p in params])
    return path


def relative_error(ours, reference):
    """conftest's max_relative_error (the largest over leaves of ||a - b|| / max(||b||, 1e-6))
    of torch leaves (numpy) against a params pytree, in numpy (cheaper than jnp's eager ops)."""
    errors = [np.linalg.norm(np.ravel(a) - np.ravel(b)) / max(np.linalg.norm(np.ravel(b)), 1e-6)
              for a, b in zip(ours, (np.asarray(x, np.float64)
                                     for x in jax.tree.leaves(reference)), strict=True)]
    return max(errors)


def assert_state_shapes(optimizer, program, weights):
    """Each parameter's state holds each slot at its stored shape by the program's plan (the
    same as to_optax's)."""
    shapes = stored_shapes(program, tuple(tuple(p.shape) for p in weights))
    for key, slot in zip(slot_keys(program), shapes, strict=True):
        assert [tuple(optimizer.state[p][key].shape) for p in weights] == list(slot)


@pytest.mark.parametrize("name", seed_names() + list(STATIC_BRANCHES))
def test_torch_export_follows_to_optax_and_resumes_from_a_state_dict(name, params, grads,
                                                                      tmp_path):
    program = load(name)
    reference, state = jax_trajectory(program, params, grads)
    cls = load_optimizer(program, tmp_path)
    weights = to_torch(params)
    optimizer = cls(weights, lr=LR, total_steps=STEPS)
    path = run(optimizer, weights, grads, range(RESUME_AT))
    saved, buffer = [p.detach().clone() for p in weights], io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    path += run(optimizer, weights, grads, range(RESUME_AT, STEPS))
    errors = [relative_error(ours, ref) for ours, ref in zip(path, reference, strict=True)]
    assert max(errors) <= 1e-5, f"step {int(np.argmax(errors)) + 1}: {max(errors):.2e}"

    assert_state_shapes(optimizer, program, weights)
    if program.has_eval:
        ours = [x.numpy() for x in optimizer.eval_params()]
        expected = jax.jit(functools.partial(lion_search.eval_params, program,
                                             total_steps=STEPS))(state, reference[-1])
        assert relative_error(ours, expected) <= 1e-5

    # A fresh optimizer loading the state dict saved at step 50 continues identically.
    buffer.seek(0)
    resumed_weights = [torch.nn.Parameter(x) for x in saved]
    resumed = cls(resumed_weights, lr=LR, total_steps=STEPS)
    resumed.load_state_dict(torch.load(buffer))
    continued = run(resumed, resumed_weights, grads, range(RESUME_AT, STEPS))
    for step, (a, b) in enumerate(zip(continued, path[RESUME_AT:]), RESUME_AT + 1):
        assert all(np.array_equal(x, y) for x, y in zip(a, b)), f"step {step} differs"


def test_bfloat16_params_keep_their_dtype_and_state_follows_optax(params, grads, tmp_path):
    program = lion_search.load_program("adafactor")
    low = jax.tree.map(lambda x: x.astype(jnp.bfloat16), params)
    low_grads = [jax.tree.map(lambda x: x.astype(jnp.bfloat16), g) for g in grads[:10]]
    reference, _ = jax_trajectory(program, low, low_grads)
    weights = to_torch(low, torch.bfloat16)
    optimizer = load_optimizer(program, tmp_path)(weights, lr=LR)
    path = run(optimizer, weights, low_grads, range(10))
    assert all(p.dtype == torch.bfloat16 for p in weights)
    for p in weights:
        state = optimizer.state[p]
        assert state["step"].item() == 10
        assert all(state[key].dtype == torch.bfloat16 for key in slot_keys(program))
    assert_state_shapes(optimizer, program, weights)
    assert optimizer.state[weights[3]]["r"].shape == (131, 1)  # the 131 x 130 kernel's rows
    assert optimizer.state[weights[3]]["v"].shape == (0,)      # ... and no full moment
    assert relative_error(path[-1], reference[-1]) <= 1e-2  # bfloat16 rounding


@pytest.mark.parametrize("name", ["adafactor", "muon"])
def test_torch_export_follows_optax_per_kind_of_tensor(name, tmp_path):
    """Adafactor and Muon as torch optimizers follow optax's own over 120 steps on a pytree of
    a 140 x 130 and a 20 x 12 matrix, vectors and a 3 x 3 x 8 kernel (test_seeds_modern)."""
    params = make_mixed_params()
    grads = gradient_sequence(params, 120)
    optimizer, lr = OPTAX_COUNTERPARTS[name]
    tx = optimizer(lr)

    @jax.jit
    def step(g, state, w):
        updates, state = tx.update(g, state, w)
        return optax.apply_updates(w, updates), state

    state, reference, w = tx.init(params), [], params
    for g in grads:
        w, state = step(g, state, w)
        reference.append(w)
    program = lion_search.load_program(name)
    weights = to_torch(params)
    path = run(load_optimizer(program, tmp_path)(weights, lr=lr), weights, grads, range(120))
    errors = [relative_error(ours, ref) for ours, ref in zip(path, reference, strict=True)]
    assert max(errors) <= 1e-4, f"step {int(np.argmax(errors)) + 1}: {max(errors):.2e}"


def test_param_groups_have_their_own_lr_and_global_reductions_span_all_groups(
        params, grads, tmp_path):
    # Adam has no global reduction: each group follows to_optax at its own lr.
    adam = lion_search.load_program("adam")
    weights = to_torch(params)
    optimizer = load_optimizer(adam, tmp_path)(
        [{"params": weights[:2]}, {"params": weights[2:], "lr": 0.001}], lr=LR)
    path = run(optimizer, weights, grads, range(20))
    leaves = jax.tree.leaves(params)
    for part, lr in ((slice(0, 2), LR), (slice(2, None), 0.001)):
        reference, _ = jax_trajectory(adam, leaves[part], [jax.tree.leaves(g)[part]
                                                           for g in grads[:20]], lr)
        assert relative_error(path[-1][part], reference[-1]) <= 1e-5
    # Prodigy's global means see every parameter of the optimizer, whatever its group.
    prodigy = lion_search.load_program("prodigy")
    weights = to_torch(params)
    optimizer = load_optimizer(prodigy, tmp_path)(
        [{"params": weights[:2]}, {"params": weights[2:]}], lr=1.0)
    path = run(optimizer, weights, grads, range(20))
    reference, _ = jax_trajectory(prodigy, params, grads[:20], 1.0)
    assert relative_error(path[-1], reference[-1]) <= 1e-5


def test_lr_scheduler_sets_the_lr_of_each_step(params, grads, tmp_path):
    adam = lion_search.load_program("adam")
    weights = to_torch(params)
    optimizer = load_optimizer(adam, tmp_path)(weights, lr=LR)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
    path = []
    for step in range(20):
        path += run(optimizer, weights, grads, [step])
        scheduler.step()
    reference, _ = jax_trajectory(adam, params, grads[:20],
                                  lambda count: jnp.where(count < 10, LR, LR / 2))
    assert relative_error(path[-1], reference[-1]) <= 1e-5


def test_params_without_grad_are_skipped(params, grads, tmp_path):
    weights = to_torch(params)
    optimizer = load_optimizer(lion_search.load_program("adamw"), tmp_path)(weights)
    run(optimizer, weights, grads, range(3))
    frozen = weights[0].detach().clone()
    weights[0].grad = None
    for p, g in zip(weights[1:], jax.tree.leaves(grads[3])[1:]):
        p.grad = torch.tensor(np.asarray(g))
    optimizer.step()
    assert torch.equal(weights[0], frozen)
    assert optimizer.state[weights[0]]["step"].item() == 3
    assert optimizer.state[weights[1]]["step"].item() == 4


def test_evaluating_swaps_in_the_evaluation_weights_and_back(params, grads, tmp_path):
    program = lion_search.load_program("schedule_free_adamw")
    weights = to_torch(params)
    optimizer = load_optimizer(program, tmp_path)(weights, lr=LR)
    run(optimizer, weights, grads, range(5))
    before = [p.detach().clone() for p in weights]
    expected = optimizer.eval_params()
    with optimizer.evaluating():
        assert all(torch.equal(p, x) for p, x in zip(weights, expected))
        assert not all(torch.equal(p, x) for p, x in zip(weights, before))
    assert all(torch.equal(p, x) for p, x in zip(weights, before))


def test_reading_T_requires_total_steps(tmp_path):
    source = "def decay(w, g, lr, t):\n    return lr * (1 - t / T) * g\n"
    cls = load_optimizer(lion_search.parse_program(source), tmp_path)
    with pytest.raises(ValueError, match="total_steps"):
        cls([torch.nn.Parameter(torch.zeros(3))])


def test_readme_torch_export_runs_as_written_and_needs_only_torch(tmp_path, monkeypatch):
    from lion_search.cli.entry import main

    (_, bash), (_, python) = section_blocks("PyTorch export")
    export = [line for line in commands(bash) if line.startswith("lion-search export")]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("lion_search.analysis.lr_check.lr_warning", lambda program: None)  # a fast export
    main(shlex.split(export[0])[1:])
    tree = ast.parse((tmp_path / "lion_torch.py").read_text())
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    modules = [alias.name for node in imports if isinstance(node, ast.Import)
               for alias in node.names] + [node.module for node in imports
                                           if isinstance(node, ast.ImportFrom)]
    assert modules == ["contextlib", "functools", "math", "torch", "enum", "typing"]
    # The README's usage, in a fresh interpreter where jax and lion_search are never imported.
    check = ("\nimport sys\nassert not {'jax', 'optax', 'lion_search'} & "
             "{m.split('.')[0] for m in sys.modules}\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", python + check], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
    assert lion_search.load_program(str(tmp_path / "lion_torch.py")) == \
        lion_search.load_program("lion")
