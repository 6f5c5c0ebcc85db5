"""Traced loops kept on disk: the same numbers as tracing, traced once across processes, a
damaged file traced again, and only built-in tasks kept; the same for tasks' flop counts."""
import dataclasses
import json

import jax
import numpy as np

from lion_search.evaluation import task_flops, traced
from lion_search.evaluation.interpreter import (
    Encoded,
    Trained,
    _builtin_key,
    _example_program,
    encode,
    make_trainer,
    size_for,
)
from lion_search.evaluation.tasks import get_task
from lion_search.runs.references import load_program


def test_a_kept_trainer_gives_the_traced_trainers_numbers_and_is_not_traced_again(tmp_path):
    task = get_task("quadratic")
    program = load_program("adam")
    size = size_for(program)
    args = (encode(program, size), np.int32(1), np.float32(0.3), np.float32(np.inf))
    example = (_example_program(size), np.int32(0), np.float32(1.0), np.float32(np.inf))
    builds = []

    def build():
        builds.append(1)
        return make_trainer(task, size)

    stale = tmp_path / "0123-another-code-version.jax"
    stale.write_bytes(b"")
    first = traced.jit_kept("test trainer", build, example, (Encoded, Trained), tmp_path)
    (kept,) = tmp_path.iterdir()                  # the other version's module is gone
    again = traced.jit_kept("test trainer", build, example, (Encoded, Trained), tmp_path)
    assert len(builds) == 1                      # the second process-like call deserialized it
    reference = jax.jit(make_trainer(task, size))(*args)
    for out in (first(*args), again(*args)):
        np.testing.assert_array_equal(out.val_loss, reference.val_loss)
        np.testing.assert_array_equal(out.losses, reference.losses)
    kept.write_bytes(b"not a module")            # damaged: traced again and rewritten
    repaired = traced.jit_kept("test trainer", build, example, (Encoded, Trained), tmp_path)
    assert len(builds) == 2 and kept.read_bytes() != b"not a module"
    np.testing.assert_array_equal(repaired(*args).val_loss, reference.val_loss)


def test_only_the_built_in_task_objects_are_kept():
    task = get_task("digits-mlp", steps=40)
    assert _builtin_key(task, "trainer") is not None
    assert _builtin_key(task, "trainer") != _builtin_key(get_task("digits-mlp"), "trainer")
    by_hand = dataclasses.replace(task, loss=lambda params, batch: 0.0 * task.loss(params, batch))
    assert _builtin_key(by_hand, "trainer") is None       # same name, other code: not kept


def test_the_code_version_names_the_xla_flags(monkeypatch):
    before = traced.code_version()
    traced.code_version.cache_clear()
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true")
    try:
        assert traced.code_version() != before and len(before) == 32
    finally:
        traced.code_version.cache_clear()


def test_worker_threads_may_register_the_same_types_at_once():
    """Worker threads trace their tasks' loops at the same time; `export` refuses a second
    registration of a type, so registering must happen once, whoever comes first."""
    import threading
    from typing import NamedTuple

    class Pair(NamedTuple):
        a: int
        b: int

    errors = []

    def register():
        try:
            traced._register(Pair)
        except Exception as err:  # noqa: BLE001 - the test reports any failure
            errors.append(err)

    threads = [threading.Thread(target=register) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and Pair in traced._registered


def test_a_built_in_tasks_flops_are_estimated_once_and_read_back(tmp_path, monkeypatch):
    """A deterministic search counts work in estimated flops; a later process reads a
    built-in task's count instead of lowering its model again, and a damaged file is
    estimated again."""
    monkeypatch.setenv("LION_SEARCH_FLOPS", str(tmp_path))
    estimate = round(get_task("quadratic").flops_estimate)
    task_flops.task_flops.cache_clear()
    assert task_flops.task_flops("quadratic") == estimate
    (kept,) = tmp_path.glob("*.json")
    assert json.loads(kept.read_text()) == {"quadratic": estimate}
    kept.write_text(json.dumps({"quadratic": estimate + 1}))    # as read, not estimated
    task_flops.task_flops.cache_clear()
    assert task_flops.task_flops("quadratic") == estimate + 1
    kept.write_text("{not json")
    task_flops.task_flops.cache_clear()
    assert task_flops.task_flops("quadratic") == estimate
    task_flops.task_flops.cache_clear()

