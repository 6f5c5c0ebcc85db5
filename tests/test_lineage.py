"""Lineage on a real small run: the chain from a seed to a program, step by step."""
import json
import math

import pytest

from lion_search.inspect.lineage import (
    ancestry,
    format_lineage,
    lineage_json,
    text_diff,
)
from lion_search.language.errors import RunError
from lion_search.runs.journal import RunStore
from lion_search.search.retraining import RETRAINED
from tests.conftest import small_run


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = RunStore.open(small_run(tmp_path_factory))
    yield store
    store.close()


def _deepest(store):
    """The child with the longest chain of ancestors."""
    ids = [row.id for row in store.programs() if row.origin == "child"]
    return max(ids, key=lambda pid: (len(ancestry(store, pid)), pid))


def test_chain_runs_from_a_seed_through_each_parent(store):
    target = _deepest(store)
    steps = ancestry(store, target)
    assert len(steps) >= 3, "a 40-evaluation search should have grandchildren"
    assert steps[0].origin == "seed" and store.program(steps[0].id).parent is None
    assert steps[0].id in {s["id"] for s in store.value("seeds")}
    assert steps[-1].id == target
    for previous, step in zip(steps, steps[1:]):
        assert store.program(step.id).parent == previous.id
        assert step.mutation == store.program(step.id).mutation
    assert steps[0].diff == "" and math.isnan(steps[0].delta)


def test_each_step_is_a_small_diff_with_its_fitness_change(store):
    steps = ancestry(store, _deepest(store))
    for previous, step in zip(steps, steps[1:]):
        if step.mutation.startswith(RETRAINED):    # the same program, trained on more seeds
            assert step.diff == ""
            continue
        assert step.diff, f"step to #{step.id} has an empty diff"
        lines = step.diff.splitlines()
        assert all(line[0] in "+-" for line in lines)
        assert not any(line.startswith(("+++", "---", "@@")) for line in lines)
        # Only changed lines: far fewer than the two programs together.
        assert len(lines) < len(previous.text.splitlines()) + len(step.text.splitlines())
        if math.isfinite(step.fitness) and math.isfinite(previous.fitness):
            assert step.delta == pytest.approx(step.fitness - previous.fitness)
    evaluated = {e.program: e.fitness for e in store.evaluations("search")}
    for step in steps[1:]:
        assert step.fitness == evaluated.get(step.id, math.inf)


def test_best_program_lineage_and_json(store):
    best = store.best(1)[0][0].id
    steps = ancestry(store, best)
    assert steps[-1].id == best
    data = json.loads(json.dumps(lineage_json(steps), allow_nan=False))
    assert [d["id"] for d in data] == [s.id for s in steps]
    assert data[0]["delta"] is None and data[0]["origin"] == "seed"
    assert all(isinstance(d["diff"], list) for d in data)
    text = format_lineage(steps)
    assert f"#{best}" in text and f"#{steps[0].id} seed:" in text


def test_a_seed_is_its_own_lineage_and_unknown_ids_fail(store):
    seed = store.value("seeds")[0]["id"]
    steps = ancestry(store, seed)
    assert [s.id for s in steps] == [seed]
    with pytest.raises(RunError, match="no program 99999"):
        ancestry(store, 99999)


def test_text_diff_keeps_only_changed_lines():
    before = "def f(w, g, lr, t):\n    u = sign(g)\n    return lr * u\n"
    after = "def f(w, g, lr, t):\n    u = tanh(g)\n    return lr * u\n"
    assert text_diff(before, after) == "-    u = sign(g)\n+    u = tanh(g)"
    assert text_diff(before, before) == ""


def test_only_the_last_steps_asked_for_get_their_diff(store):
    """`show RUN:ID` prints no diff and the report the last 60: a long chain's other diffs
    are not computed."""
    steps = ancestry(store, _deepest(store))
    for diffs in (0, 1, 2):
        cut = ancestry(store, steps[-1].id, diffs=diffs)
        assert [s._replace(diff="") for s in cut] == [s._replace(diff="") for s in steps]
        assert [s.diff for s in cut] == ["" if i < len(steps) - diffs else s.diff
                                         for i, s in enumerate(steps)]


def test_a_lineage_that_loops_is_one_error(tmp_path):
    run = RunStore.create(tmp_path / "run", {"task": "quadratic"})
    text = "def f(w, g, lr, t):\n    return lr * g\n"
    first = run.add_program(text, ("h1", "f1"), None, "seed", "seed")
    second = run.add_program(text, ("h2", "f2"), first, "m", "child")
    run.db.execute("UPDATE programs SET parent = ? WHERE id = ?", (second, first))
    with pytest.raises(RunError, match=f"lineage of program {second} loops at program {second}"):
        ancestry(run, second)
    run.close()
