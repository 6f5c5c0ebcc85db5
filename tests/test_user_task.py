"""A user's own task (`--task MODULE:FUNCTION` or `path/to/file.py:FUNCTION`): the README's
example runs as written, the task works in eval, evolve, portfolios and funnel stages, and a
task that cannot be trained is one clear error line before anything starts."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from readme_blocks import commands, section_blocks

from lion_search.evaluation import task_flops
from lion_search.evaluation.portfolio import resolve_tasks
from lion_search.evaluation.stages import load_stages
from lion_search.evaluation.tasks import get_task, task_code_paths, user_task
from lion_search.language.errors import TaskError
from lion_search.runs.references import load_program
from lion_search.selection.funnel import run_stage

BIN = str(Path(sys.executable).parent)

# A tiny task file; each bad variant below replaces one piece of it.
GOOD = '''
import jax
import jax.numpy as jnp
from lion_search import Task, make_schedule

def init_params(key):
    return {"w": jax.random.normal(key, (4, 2)), "b": jnp.zeros(2)}

def loss(params, batch):
    x, y = batch
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)

def get_batch(key, step):
    x = jax.random.normal(jax.random.fold_in(key, step), (8, 4))
    return x, x[:, :2]

def val_loss(params):
    return jnp.sum(params["w"] ** 2)

def make_task():
    return Task(name="tiny", family="tiny", scale="1x", description="a tiny regression",
                steps=20, batch_size=8, init_params=init_params, loss=loss,
                get_batch=get_batch, val_loss=val_loss, schedule=make_schedule("constant", 20))
'''


def write_task(folder: Path, name: str, old: str = "", new: str = "") -> str:
    """Write GOOD (with `old` replaced by `new`) to folder/name.py; return its task spec."""
    assert old in GOOD
    (folder / f"{name}.py").write_text(GOOD.replace(old, new))
    return f"{folder / name}.py:make_task"


@pytest.mark.slow  # about 50 s on 2 cores with empty caches
def test_readme_example_runs_as_written(tmp_path):
    """The README's own-task section: its Python block saved as the file it names, then each of
    its commands run in that folder (eval, evolve, and evolve on a portfolio with the task)."""
    (python, code), (bash, lines) = section_blocks("Your own task")
    assert python == "python" and bash == "bash"
    filename = code.splitlines()[0].removeprefix("# ").split(":")[0]
    (tmp_path / filename).write_text(code)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    for command in commands(lines):
        result = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        if command.startswith("lion-search eval"):
            assert "sine-mlp" in result.stdout and "lion" in result.stdout
    for run, budget, tasks in (("runs/sine", 60, ["my_task.py:make_task"]),
                               ("runs/sine-mix", 20, ["my_task:make_task", "quadratic"])):
        shown = subprocess.run([f"{BIN}/lion-search", "show", run, "--json"], cwd=tmp_path,
                               capture_output=True, text=True, check=True)
        summary = json.loads(shown.stdout)
        assert summary["evaluations"] == budget
        assert [r["task"] for r in summary["references"]] == (tasks if len(tasks) > 1 else [])


@pytest.mark.parametrize("old,new,message", [
    ("def make_task", "def other_task", "module 'bad' has no function 'make_task'"),
    ("    return Task(", "    return dict(", "make_task() returned dict, not a proxy_tasks.Task"),
    ("def make_task():\n", "def make_task():\n    raise ValueError('no data here')\n",
     "make_task() failed: ValueError: no data here"),
    ('(4, 2)), "b"', '(3, 2)), "b"', "loss(params, batch) failed: TypeError: dot_general"),
    ("jnp.zeros(2)", "jnp.full(2, jnp.nan)", "init_params(key) is not finite (NaN or Inf)"),
    ("jnp.zeros(2)", "jnp.zeros(2, jnp.int32)",
     "init_params(key) must return a non-empty pytree of float32 arrays"),
    ("return jnp.mean((x", "return ((x", "loss(params, batch) must be a scalar, got float32[8, 2]"),
    ("jnp.sum(params", "jnp.log(0.0) * jnp.sum(params", "val_loss(params) is not finite"),
    ("steps=20,", "steps=0,", "steps must be a positive int, got 0"),
    ("import jax\n", "import jax\nimport no_such_dependency\n",
     "failed: ModuleNotFoundError: No module named 'no_such_dependency'"),
])
def test_a_task_that_cannot_train_is_one_clear_error(tmp_path, old, new, message):
    spec = write_task(tmp_path, "bad", old, new)
    with pytest.raises(TaskError) as err:
        get_task(spec)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"task {spec!r}: ") and message in text, text


def test_unknown_modules_and_files_are_one_line(tmp_path):
    for spec, message in (("no_such_module_here:make_task", "cannot import 'no_such_module_here'"),
                          (f"{tmp_path}/missing.py:make_task", "no file"),
                          ("digits-mlpp", "or your own: MODULE:FUNCTION")):
        with pytest.raises(TaskError, match=message):
            get_task(spec)


def test_evolve_stops_before_the_search_with_one_line(tmp_path):
    spec = write_task(tmp_path, "nan_task", "jnp.zeros(2)", "jnp.full(2, jnp.inf)")
    result = subprocess.run([f"{BIN}/lion-search", "evolve", "--task", spec, "--workers", "1",
                             "--out", str(tmp_path / "run")], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"lion-search: error: task {spec!r}: init_params(key) is not finite (NaN or Inf)"]
    assert not (tmp_path / "run").exists()


def test_a_user_task_is_built_once_and_takes_schedules_and_steps(tmp_path):
    spec = write_task(tmp_path, "tiny_task")
    task = get_task(spec)
    assert task is get_task(spec, "warmup_cosine") is user_task(spec)
    assert (task.name, task.n_params, task.schedule_name) == ("tiny", 10, "warmup_cosine")
    longer = get_task(spec, "constant", steps=40)
    assert (longer.steps, longer.schedule_name) == (40, "constant")
    with pytest.raises(TaskError, match="a batch size can be set for built-in tasks only"):
        get_task(spec, batch_size=16)
    assert resolve_tasks(f"quadratic,{spec}") == ("quadratic", spec)


def test_the_code_a_worker_needs_is_the_task_file_or_its_package(tmp_path, monkeypatch):
    spec = write_task(tmp_path, "shipped_task")
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text(GOOD)
    monkeypatch.chdir(tmp_path)
    assert task_code_paths(["quadratic", spec, "mypkg.tasks:make_task"]) == [
        str(tmp_path / "shipped_task.py"), str(package)]


def test_a_funnel_stage_runs_on_a_user_task(tmp_path):
    spec = write_task(tmp_path, "stage_task")
    stages = tmp_path / "stages.json"
    stages.write_text(json.dumps({
        "stages": [{"name": "A", "tasks": ["{proxy}", "quadratic"], "seeds": [0]}],
        "baselines": ["adamw"], "baseline_grid": [0.01, 0.1], "candidate_grid": [1.0]}))
    config = load_stages(stages, proxy=spec)
    assert config.stages[0].tasks == (spec, "quadratic")
    baselines, candidates = run_stage(config.stages[0], config,
                                      [("c1", 1, load_program("sgd"))])
    assert set(baselines[0].results) == set(candidates[0].results) == {spec, "quadratic"}


def test_a_users_tasks_flops_are_estimated_in_each_process_not_kept(tmp_path, monkeypatch):
    """Its code is not in the code version that a kept count is filed under."""
    monkeypatch.setenv("LION_SEARCH_FLOPS", str(tmp_path / "flops"))
    spec = write_task(tmp_path, "flops_task")
    task_flops.task_flops.cache_clear()
    assert task_flops.task_flops(spec) == round(get_task(spec).flops_estimate) > 0
    assert not (tmp_path / "flops").exists()
    task_flops.task_flops.cache_clear()
