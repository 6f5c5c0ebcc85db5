"""The journal's contract (runs/journal_schema.py): evaluation kinds are EvalKinds, results are
journaled by keyword, the schema has a version, and a journal of version 1 (tests/data/
journal_v1.sqlite, written before versions) is migrated when opened: a promotion's lr factor
moves from the `worker` column to its own, and nothing else changes. Every SQL query of the
package is in the journal's modules."""
import ast
import math
import shutil
import sqlite3
from pathlib import Path

import pytest

from lion_search.language.errors import RunError
from lion_search.runs.journal import JOURNAL, RunStore
from lion_search.runs.journal_schema import SCHEMA_VERSION, EvalKind

ROOT = Path(__file__).resolve().parent.parent
V1 = ROOT / "tests" / "data" / "journal_v1.sqlite"
JOURNAL_MODULES = {"journal.py", "journal_schema.py", "journal_sqlite.py", "journal_proposals.py",
                   "journal_hall.py"}


def raw(journal, query):
    db = sqlite3.connect(journal)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


@pytest.fixture
def old_run(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    shutil.copy(V1, folder / JOURNAL)
    return folder


def test_a_version_1_journal_is_migrated_when_opened(old_run):
    before = raw(old_run / JOURNAL, "SELECT * FROM evaluations ORDER BY id")
    assert raw(old_run / JOURNAL, "SELECT value FROM meta WHERE key = 'schema'") == []
    store = RunStore.open(old_run)
    assert store.value("schema") == SCHEMA_VERSION
    after = {e.id: e for kind in EvalKind for e in store.evaluations(kind)}
    assert len(after) == len(before)
    factors = []
    for row in before:
        new = after[row[0]]
        if row[2] == "promotion":
            assert row[9].startswith("lr x") and new.worker == "promotion"
            assert new.lr_factor == pytest.approx(float(row[9][4:]), rel=1e-5)
            factors.append(new.lr_factor)
        else:
            assert new.worker == row[9] and new.lr_factor is None
        assert new[:9] == (row[0], row[1], row[2], math.inf if row[3] is None else row[3],
                           row[4], bool(row[5]), row[6], row[7], row[8])
    assert len(factors) == 6
    assert all(min(abs(f - c) for c in (1 / 3, 1.0, 3.0)) < 1e-5 for f in factors)
    store.close()
    again = RunStore.open(old_run)                 # migrated once: the second open reads it
    assert [e.lr_factor for e in again.evaluations(EvalKind.PROMOTION)] == factors
    again.close()


def test_a_journal_from_a_newer_lion_search_is_refused_in_one_line(old_run):
    RunStore.open(old_run).close()
    db = sqlite3.connect(old_run / JOURNAL)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(RunError) as err:
        RunStore.open(old_run)
    assert (f"newer lion-search (journal schema {SCHEMA_VERSION + 1}; this one reads up to "
            f"{SCHEMA_VERSION})") in str(err.value)
    assert "\n" not in str(err.value)


def test_every_journaled_kind_is_an_eval_kind(old_run):
    kinds = {k for (k,) in raw(old_run / JOURNAL, "SELECT DISTINCT kind FROM evaluations")}
    # a one-task run of version 1 had no reference (no portfolio, no seed panel) and no
    # held-back check
    assert kinds == set(EvalKind) - {EvalKind.REFERENCE, EvalKind.HELD_BACK}
    assert EvalKind.PROMOTION == "promotion" and f"{EvalKind.PROMOTED}" == "promoted"


def test_results_are_journaled_by_keyword_with_their_lr_factor(tmp_path):
    store = RunStore.create(tmp_path / "run", {"task": "quadratic"})
    assert store.value("schema") == SCHEMA_VERSION
    pid = store.add_program("def f(w, g, lr, t):\n    return lr * g\n", ("h", "f"), None, "t",
                            "child")
    with pytest.raises(TypeError):
        store.add_evaluation(pid, "search", 1.0, "ok", False, "quadratic", (0,), 0.1, "w")
    store.add_evaluation(pid, kind=EvalKind.PROMOTION, fitness=0.5, status="ok",
                         task="rosenbrock", seeds=(0, 1), seconds=0.0, worker="promotion",
                         lr_factor=3.0)
    store.add_evaluation(pid, kind=EvalKind.SEARCH, fitness=math.inf, status="diverged",
                         task="quadratic", seeds=(0,), seconds=0.1, worker="w", cached=True)
    promotion, = store.evaluations(EvalKind.PROMOTION)
    assert (promotion.lr_factor, promotion.seeds, promotion.cached) == (3.0, "[0, 1]", False)
    search, = store.evaluations(EvalKind.SEARCH)
    assert (search.fitness, search.cached, search.lr_factor) == (math.inf, True, None)
    store.close()


def test_sql_lives_only_in_the_journal_modules():
    """No module outside runs/journal*.py runs a query or reaches for the store's connection."""
    offenders = []
    for path in sorted((ROOT / "lion_search").rglob("*.py")):
        if path.parent.name == "runs" and path.name in JOURNAL_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and (
                    node.attr in ("execute", "executemany", "executescript")
                    or node.attr == "db" and isinstance(node.ctx, ast.Load)):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
    assert offenders == []
