"""A run's programs' lr check (runs.lr_checked): a child of a search that checked lr, and a
library seed at a scale of the default grid, are shown without checking again (no JAX probe); a
seed at another scale, a simplified form, a child of a run with --allow-lr-free or from before
the check, is checked."""
import shutil

import pytest

from lion_search.analysis import lr_check
from lion_search.evaluation.lr_sweep import DEFAULT_GRID
from lion_search.language.library import read_program, seed_names
from lion_search.language.lr_scale import scale_lr
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


def test_forms_and_children_of_unchecked_runs_are_checked(store, checked):
    child = rows(store, "child")[0]
    other = parse_program("def f(w, g, lr, t):\n    return lr * sign(g)\n")
    assert lr_warning_in_run(store, child, other) == "w"            # not the journaled text
    for config in ({**store.config, "allow_lr_free": True},
                   {k: v for k, v in store.config.items() if k != "allow_lr_free"}):
        store.set_config(config)
        assert lr_warning_in_run(store, child, parse_program(child.text)) == "w"
    assert len(checked) == 3


def test_a_library_seed_as_calibrated_is_not_checked_again(store, checked):
    seed = rows(store, "seed")[0]
    assert lr_warning_in_run(store, seed, parse_program(seed.text)) is None
    record = next(s for s in store.value("seeds") if s["id"] == seed.id)
    store.set_value("seeds", [{**record, "lr_scale": 0.5}])          # a scale off the grid
    assert lr_warning_in_run(store, seed, parse_program(seed.text)) == "w"
    assert len(checked) == 1


def test_every_library_seed_passes_at_every_scale_of_the_default_grid():
    """What lr_checked takes as known of the seeds."""
    from lion_search.analysis.lr_check import grows_with_lr

    failing = [(name, scale) for name in seed_names() for scale in DEFAULT_GRID
               if not grows_with_lr(scale_lr(read_program(name), scale))]
    assert failing == []
