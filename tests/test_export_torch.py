"""The PyTorch export: every seed as a torch.optim.Optimizer of generated code follows to_optax
step by step, resumes from a state_dict, and behaves as a torch optimizer."""
import ast
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
from lion_search.cli.entry import main  # noqa: E402
from lion_search.export.torch_module import slot_keys, torch_source  # noqa: E402
from lion_search.language.library import seed_names  # noqa: E402
from lion_search.language.shapes import stored_shapes  # noqa: E402
from tests import export_checks as checks  # noqa: E402
from tests.conftest import gradient_sequence  # noqa: E402
from tests.readme_blocks import commands, section_blocks  # noqa: E402
from tests.test_export import PROGRAMS, STEPS, load  # noqa: E402
from tests.test_seeds_modern import OPTAX_COUNTERPARTS, make_mixed_params  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Torch's intra-op threads only contend on a small shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


def assert_state_shapes(optimizer, program, weights):
    """Each parameter's state holds each slot at its stored shape by the program's plan (the
    same as to_optax's)."""
    shapes = stored_shapes(program, tuple(tuple(p.shape) for p in weights))
    for key, slot in zip(slot_keys(program), shapes, strict=True):
        assert [tuple(optimizer.state[p][key].shape) for p in weights] == list(slot)


@pytest.mark.parametrize("name", seed_names() + list(PROGRAMS))
def test_every_seed_exported_to_torch_follows_to_optax_step_by_step(name, tmp_path):
    program = load(name)
    reference, state = checks.reference(program, STEPS)
    path, optimizer, weights = checks.torch_path(checks.write_torch(program, tmp_path), STEPS)
    errors = checks.step_errors(path, reference)
    assert max(errors) <= checks.TOLERANCE, f"step {int(np.argmax(errors)) + 1}: {max(errors)}"
    assert_state_shapes(optimizer, program, weights)
    if program.has_eval:
        expected = lion_search.eval_params(program, state, reference[-1], total_steps=STEPS)
        ours = [x.numpy() for x in optimizer.eval_params()]
        assert checks.relative_error(ours, expected) <= checks.TOLERANCE


@pytest.mark.parametrize("name", seed_names())
def test_a_fresh_optimizer_resumes_from_a_state_dict(name, tmp_path):
    """A fresh optimizer that loads the state dict saved at step 5 continues identically."""
    program = lion_search.load_program(name)
    cls, grads = checks.write_torch(program, tmp_path), checks.gradients(10)
    weights = to_torch(checks.PARAMS)
    optimizer = cls(weights, lr=checks.LR, total_steps=10)
    run(optimizer, weights, grads, range(5))
    saved, buffer = [p.detach().clone() for p in weights], io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    path = run(optimizer, weights, grads, range(5, 10))
    buffer.seek(0)
    resumed_weights = [torch.nn.Parameter(x) for x in saved]
    resumed = cls(resumed_weights, lr=checks.LR, total_steps=10)
    resumed.load_state_dict(torch.load(buffer))
    continued = run(resumed, resumed_weights, grads, range(5, 10))
    for step, (a, b) in enumerate(zip(continued, path), 6):
        assert all(np.array_equal(x, y) for x, y in zip(a, b)), f"step {step} differs"


def test_bfloat16_params_keep_their_dtype_and_state_follows_optax(tmp_path):
    program = lion_search.load_program("adafactor")
    low = jax.tree.map(lambda x: x.astype(jnp.bfloat16), checks.PARAMS)
    low_grads = [jax.tree.map(lambda x: x.astype(jnp.bfloat16), g) for g in checks.gradients(10)]
    reference, _ = checks.optax_path(lion_search.to_optax(program, checks.LR), low_grads, low)
    weights = to_torch(low, torch.bfloat16)
    optimizer = checks.write_torch(program, tmp_path)(weights, lr=checks.LR)
    path = run(optimizer, weights, low_grads, range(10))
    assert all(p.dtype == torch.bfloat16 for p in weights)
    for p in weights:
        state = optimizer.state[p]
        assert state["step"].item() == 10
        assert all(state[key].dtype == torch.bfloat16 for key in slot_keys(program))
    assert_state_shapes(optimizer, program, weights)
    kernel = next(p for p in weights if p.shape == (131, 130))
    assert optimizer.state[kernel]["r"].shape == (131, 1)  # the kernel's rows
    assert optimizer.state[kernel]["v"].shape == (0,)      # ... and no full moment
    assert checks.relative_error(path[-1], jax.tree.map(
        lambda x: np.asarray(x, np.float32), reference[-1])) <= 1e-2  # bfloat16 rounding


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
    weights = to_torch(params)
    cls = checks.write_torch(lion_search.load_program(name), tmp_path)
    path = run(cls(weights, lr=lr), weights, grads, range(120))
    errors = checks.step_errors(path, reference)
    assert max(errors) <= 1e-4, f"step {int(np.argmax(errors)) + 1}: {max(errors):.2e}"


def test_param_groups_have_their_own_lr_and_global_reductions_span_all_groups(tmp_path):
    params, grads = checks.PARAMS, checks.gradients(10)
    leaves = jax.tree.leaves(params)
    # Adam has no global reduction: each group follows to_optax at its own lr.
    adam = lion_search.load_program("adam")
    weights = to_torch(params)
    optimizer = checks.write_torch(adam, tmp_path)(
        [{"params": weights[:2]}, {"params": weights[2:], "lr": 0.001}], lr=checks.LR)
    path = run(optimizer, weights, grads, range(10))
    for part, lr in ((slice(0, 2), checks.LR), (slice(2, None), 0.001)):
        reference, _ = checks.optax_path(lion_search.to_optax(adam, lr), [
            jax.tree.leaves(g)[part] for g in grads], leaves[part])
        assert checks.relative_error(path[-1][part], reference[-1]) <= 1e-6
    # Prodigy's global means see every parameter of the optimizer, whatever its group.
    prodigy = lion_search.load_program("prodigy")
    weights = to_torch(params)
    optimizer = checks.write_torch(prodigy, tmp_path)(
        [{"params": weights[:2]}, {"params": weights[2:]}], lr=1.0)
    path = run(optimizer, weights, grads, range(10))
    reference, _ = checks.optax_path(lion_search.to_optax(prodigy, 1.0), grads)
    assert checks.relative_error(path[-1], reference[-1]) <= 1e-6


def test_lr_scheduler_sets_the_lr_of_each_step(tmp_path):
    adam = lion_search.load_program("adam")
    weights, grads = to_torch(checks.PARAMS), checks.gradients(20)
    optimizer = checks.write_torch(adam, tmp_path)(weights, lr=checks.LR)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
    path = []
    for step in range(20):
        path += run(optimizer, weights, grads, [step])
        scheduler.step()
    reference, _ = checks.optax_path(lion_search.to_optax(
        adam, lambda count: jnp.where(count < 10, checks.LR, checks.LR / 2)), grads)
    assert checks.relative_error(path[-1], reference[-1]) <= 1e-6


def test_params_without_grad_are_skipped(tmp_path):
    weights, grads = to_torch(checks.PARAMS), checks.gradients(4)
    optimizer = checks.write_torch(lion_search.load_program("adamw"), tmp_path)(weights)
    run(optimizer, weights, grads, range(3))
    frozen = weights[0].detach().clone()
    weights[0].grad = None
    for p, g in zip(weights[1:], jax.tree.leaves(grads[3])[1:]):
        p.grad = torch.tensor(np.asarray(g))
    optimizer.step()
    assert torch.equal(weights[0], frozen)
    assert optimizer.state[weights[0]]["step"].item() == 3
    assert optimizer.state[weights[1]]["step"].item() == 4


def test_evaluating_swaps_in_the_evaluation_weights_and_back(tmp_path):
    program = lion_search.load_program("schedule_free_adamw")
    weights = to_torch(checks.PARAMS)
    optimizer = checks.write_torch(program, tmp_path)(weights, lr=checks.LR)
    run(optimizer, weights, checks.gradients(5), range(5))
    before = [p.detach().clone() for p in weights]
    expected = optimizer.eval_params()
    with optimizer.evaluating():
        assert all(torch.equal(p, x) for p, x in zip(weights, expected))
        assert not all(torch.equal(p, x) for p, x in zip(weights, before))
    assert all(torch.equal(p, x) for p, x in zip(weights, before))


def test_reading_T_requires_total_steps(tmp_path):
    source = "def decay(w, g, lr, t):\n    return lr * (1 - t / T) * g\n"
    cls = checks.write_torch(lion_search.parse_program(source), tmp_path)
    with pytest.raises(ValueError, match="total_steps"):
        cls([torch.nn.Parameter(torch.zeros(3))])


def test_a_torch_export_without_torch_is_one_line(tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    assert main(["export", "lion", "--framework", "torch", "-o", str(tmp_path / "x.py")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'lion-search[torch]'" in err
    assert "Traceback" not in err and not (tmp_path / "x.py").exists()


def test_readme_torch_export_runs_as_written_and_needs_only_torch(tmp_path, monkeypatch):
    (_, bash), (_, python) = section_blocks("PyTorch export")
    export = [line for line in commands(bash) if line.startswith("lion-search export")]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("lion_search.analysis.lr_check.lr_warning", lambda program: None)  # a fast export
    main(shlex.split(export[0])[1:])
    tree = ast.parse((tmp_path / "lion_torch.py").read_text())
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert [alias.name for node in imports for alias in node.names] == ["torch"]
    # The README's usage, in a fresh interpreter where jax and lion_search are never imported.
    check = ("\nimport sys\nassert not {'jax', 'optax', 'lion_search'} & "
             "{m.split('.')[0] for m in sys.modules}\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", python + check], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
    assert lion_search.load_program(str(tmp_path / "lion_torch.py")) == \
        lion_search.load_program("lion")
    assert torch_source(lion_search.load_program("lion"), path="lion_torch.py") == \
        (tmp_path / "lion_torch.py").read_text()
