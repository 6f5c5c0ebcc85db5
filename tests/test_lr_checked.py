"""A run's programs' lr check (runs.lr_checked): a child of a search that checked lr is shown
without checking again (no JAX probe); a seed, a simplified form, a child of a run with
--allow-lr-free, or of a run from before the check, is checked."""
import shutil

import pytest

from lion_search.analysis import lr_check
from lion_search.language.parser import parse_program
from lion_search.runs.journal import JOURNAL, RunStore
from lion_search.runs.lr_checked import lr_warning_in_run
from tests.conftest import small_run


@pytest.fixture
def checked(monkeypatch):
    """The programs the lr check is run on (it warns "w" for each)."""
    programs = []
    monkeypatch.setattr(lr_check, "lr_warning", lambda program: programs.append(program) or "w")
    return programs


@pytest.fixture
def store(tmp_path_factory, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(small_run(tmp_path_factory) / JOURNAL, folder / JOURNAL)
    store = RunStore.open(folder)
    yield store
    store.close()


def rows(store, origin):
    return [row for row in store.programs() if row.origin == origin]


def test_a_child_of_a_checking_search_is_not_checked_again(store, checked):
    child = rows(store, "child")[0]
    assert lr_warning_in_run(store, child, parse_program(child.text)) is None
    assert checked == []


def test_seeds_forms_and_children_of_unchecked_runs_are_checked(store, checked):
    seed, child = rows(store, "seed")[0], rows(store, "child")[0]
    assert lr_warning_in_run(store, seed, parse_program(seed.text)) == "w"
    other = parse_program("def f(w, g, lr, t):\n    return lr * sign(g)\n")
    assert lr_warning_in_run(store, child, other) == "w"            # not the journaled text
    for config in ({**store.config, "allow_lr_free": True},
                   {k: v for k, v in store.config.items() if k != "allow_lr_free"}):
        store.set_config(config)
        assert lr_warning_in_run(store, child, parse_program(child.text)) == "w"
    assert len(checked) == 4
