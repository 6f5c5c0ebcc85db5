"""The hall of fame on a real small run: one best per (length, memory), a non-dominated front,
an atomically written CSV, and incremental updates that match a full recomputation."""
import csv
import math
import shutil

import pytest

from lion_search.language.parser import parse_program
from lion_search.language.shapes import memory_cost
from lion_search.runs import hall_of_fame
from lion_search.runs.hall_of_fame import (
    COLUMNS,
    hall_json,
    pareto_front,
    read_hall_of_fame,
    write_hall_of_fame,
)
from lion_search.runs.journal import RunStore
from tests.conftest import small_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A private copy of the shared small run (these tests write to its folder and journal)."""
    folder = tmp_path_factory.mktemp("hall") / "run"
    shutil.copytree(small_run(tmp_path_factory), folder)
    return folder


def brute_force(store):
    """Best (fitness, id) per (length, memory) by parsing every evaluated program."""
    best = {}
    for pid, fitness, text in store.db.execute(
            "SELECT e.program, e.fitness, p.text FROM evaluations e JOIN programs p ON "
            "p.id = e.program WHERE e.kind IN ('search', 'seed') AND e.fitness IS NOT NULL "
            "ORDER BY e.id"):
        program = parse_program(text)
        cell = (len(program), round(memory_cost(program), 4))
        if cell not in best or fitness < best[cell][0]:
            best[cell] = (fitness, pid)
    return best


def test_one_best_program_per_length_and_memory(run):
    store = RunStore.open(run)
    entries = pareto_front(store)
    assert entries
    cells = [(e.length, e.memory) for e in entries]
    assert len(cells) == len(set(cells))
    assert {(e.length, e.memory): (e.fitness, e.id) for e in entries} == brute_force(store)
    for e in entries:
        program = parse_program(e.program)
        assert (len(program), round(memory_cost(program), 4)) == (e.length, e.memory)
        assert store.program(e.id).text == e.program and math.isfinite(e.fitness)
    store.close()


def test_the_front_is_exactly_the_non_dominated_entries(run):
    store = RunStore.open(run)
    entries = pareto_front(store)
    store.close()

    def dominates(a, b):
        return (a.fitness <= b.fitness and a.memory <= b.memory and a.length <= b.length
                and (a.fitness, a.memory, a.length) != (b.fitness, b.memory, b.length))

    front = [e for e in entries if e.on_front]
    assert front
    for e in entries:
        assert e.on_front == (not any(dominates(o, e) for o in entries))
    best = min(entries, key=lambda e: e.fitness)
    assert best.on_front


def test_found_at_is_the_search_evaluation_ordinal(run):
    store = RunStore.open(run)
    search = store.evaluations("search")
    for e in pareto_front(store):
        if e.evaluation == 0:          # a seed
            assert store.program(e.id).origin == "seed"
            continue
        found = search[e.evaluation - 1]
        assert found.program == e.id and found.fitness == e.fitness
    store.close()


def test_csv_parses_and_matches(run):
    store = RunStore.open(run)
    path = write_hall_of_fame(store)
    assert path == run / "hall_of_fame.csv"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == COLUMNS
    entries = pareto_front(store)
    assert read_hall_of_fame(path) == entries
    assert [r["program"] for r in rows] == [e.program for e in entries]   # multi-line text
    assert {r["pareto"] for r in rows} <= {"0", "1"}
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]      # no temp file left
    assert hall_json(entries)[0]["id"] == entries[0].id
    store.close()


def test_incremental_updates_match_a_fresh_computation(run):
    """New evaluations after a call are picked up by the next one, as during a search."""
    store = RunStore.open(run)
    before = pareto_front(store)
    # A new best program of a new (length, memory) cell, and a better program for an old cell.
    worst = max(before, key=lambda e: e.fitness)
    better_old = store.add_program(worst.program, ("x1", "y1"), None, "test", "child")
    store.add_evaluation(better_old, kind="search", fitness=worst.fitness - 1, status="ok",
                         task="quadratic", seeds=(0,), seconds=0.0, worker="test")
    new_text = ("def tiny(w, g, lr, t):\n    return lr * sign(g)\n")
    new = store.add_program(new_text, ("x2", "y2"), None, "test", "child")
    store.add_evaluation(new, kind="search", fitness=0.5, status="ok", task="quadratic",
                         seeds=(0,), seconds=0.0, worker="test")
    failed = store.add_program("def f(w, g, lr, t):\n    return lr * g\n", ("x3", "y3"), None,
                               "test", "child")
    store.add_evaluation(failed, kind="search", fitness=math.inf, status="diverged",
                         task="quadratic", seeds=(0,), seconds=0.0, worker="test")
    after = pareto_front(store)
    n_search = store.count("search")
    hall_of_fame._HALLS.clear()                 # forget this process's: read the journal's
    assert pareto_front(store) == after
    assert {(e.length, e.memory): (e.fitness, e.id) for e in after} == brute_force(store)
    cells = {(e.length, e.memory): e for e in after}
    assert cells[(worst.length, worst.memory)].id == better_old
    assert cells[(worst.length, worst.memory)].evaluation == n_search - 2
    tiny = (len(parse_program(new_text)), 0)
    assert cells[tiny].id == new and cells[tiny].on_front      # shortest and memory-free
    assert failed not in {e.id for e in after}
    store.close()
