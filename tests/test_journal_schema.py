"""The journal's contract (runs/journal_schema.py): evaluation kinds are EvalKinds, results are
journaled by keyword, the schema has a version, and a journal of version 1 (tests/data/
journal_v1.sqlite, written before versions) is migrated when opened: a promotion's lr factor
moves from the `worker` column to its own, and nothing else changes; version 6's table of each
fingerprint's first and newest evaluation holds what grouping the evaluations gives, as
evaluations arrive too, and the queries that read it and version 6's index give what their
definitions give. Every SQL query of the package is in the journal's modules."""
import ast
import math
import random
import shutil
import sqlite3
from pathlib import Path

import pytest

from lion_search.language.errors import RunError
from lion_search.runs import journal_proposals, journal_twins
from lion_search.runs.journal import JOURNAL, RunStore
from lion_search.runs.journal_schema import PROXY_KINDS, SCHEMA_VERSION, EvalKind
from lion_search.runs.salvage import salvage

ROOT = Path(__file__).resolve().parent.parent
V1 = ROOT / "tests" / "data" / "journal_v1.sqlite"
JOURNAL_MODULES = {"journal.py", "journal_schema.py", "journal_sqlite.py", "journal_proposals.py",
                   "journal_hall.py", "journal_reproductions.py", "journal_twins.py"}


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
    # a one-task run of version 1 had no reference (no portfolio, no seed panel), no
    # held-back check and no screen
    assert kinds == set(EvalKind) - {EvalKind.REFERENCE, EvalKind.HELD_BACK, EvalKind.SCREENED}
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


def fingerprint_evaluations(store):
    """{(proxy kind, fingerprint): (first evaluation id, newest)}, from the evaluations."""
    fingerprint = {row.id: row.fingerprint for row in store.programs()}
    found = {}
    for kind in PROXY_KINDS:
        for e in store.evaluations(kind):
            first, _ = found.get((kind, fingerprint[e.program]), (e.id, e.id))
            found[kind, fingerprint[e.program]] = (first, e.id)
    return found


def kept_evaluations(store):
    """proxy_fingerprints as fingerprint_evaluations gives it."""
    return {(kind, fingerprint): (first, last) for kind, fingerprint, first, last
            in store.db.execute("SELECT kind, fingerprint, first, last FROM proxy_fingerprints")}


def test_each_fingerprints_first_and_newest_evaluation_is_kept(old_run, tmp_path):
    store = RunStore.open(old_run)
    assert kept_evaluations(store) == fingerprint_evaluations(store)
    rng = random.Random(0)
    rows = list(store.programs())
    for _ in range(30):   # evaluations arriving: the trigger keeps the table
        row = rng.choice(rows)
        store.add_evaluation(row.id, kind=rng.choice([*PROXY_KINDS, EvalKind.PROMOTED]),
                             fitness=rng.choice([rng.random(), math.inf]), status="ok",
                             task="quadratic", seeds=(0,), seconds=0.0, worker="w")
    groups = fingerprint_evaluations(store)
    assert kept_evaluations(store) == groups
    fitness = {e.id: e.fitness for kind in PROXY_KINDS for e in store.evaluations(kind)}
    for kind in PROXY_KINDS:
        ranked = sorted((fitness[last], first) for (k, _), (first, last) in groups.items()
                        if k == kind and math.isfinite(fitness[last]))
        assert [(e.id, e.fitness) for _, e in store.best(len(rows), kind)] == \
            [(first, f) for f, first in ranked]
    ids = [row.id for row in rows]
    for kinds in (PROXY_KINDS, (EvalKind.SEARCH,), (EvalKind.SEED,)):
        newest = {row.id: max(groups[k, row.fingerprint][1] for k in kinds
                              if (k, row.fingerprint) in groups)
                  for row in rows if any((k, row.fingerprint) in groups for k in kinds)}
        assert store.best_fitness(ids, kinds) == {i: fitness[e] for i, e in newest.items()}
    store.close()
    salvage(old_run, tmp_path / "salvaged")   # a journal of version 6 copied: by the trigger
    copy = RunStore.open(tmp_path / "salvaged")
    assert kept_evaluations(copy) == groups
    copy.close()


def test_simplified_versions_and_proposals_are_counted_by_index(old_run):
    store = RunStore.open(old_run)
    plan = [row[3] for row in store.db.execute(
        "EXPLAIN QUERY PLAN SELECT text FROM programs WHERE origin = 'simplified' AND "
        "parent = 34 ORDER BY id DESC LIMIT 1")]
    assert plan == ["SEARCH programs USING INDEX programs_by_origin (origin=? AND parent=?)"]
    simplified = [row for row in store.programs() if row.origin == "simplified"]
    assert simplified and all(store.simplified(row.parent) == row.text for row in simplified)
    rng = random.Random(0)
    rows = list(store.programs())
    proposals = {}
    for row in rng.sample(rows, len(rows) // 2):   # how some programs were proposed
        proposals[row.id] = (rng.randrange(3), rng.random() < 0.7)
        journal_proposals.add_proposal(store, row.id, 0, *proposals[row.id])
    first = {}
    for row in rows:
        first.setdefault(row.fingerprint, row.id)
    trained = {e.program for kind in EvalKind for e in store.evaluations(kind) if not e.cached}
    mutants = [row.id for row in rows
               if row.origin == "child" and proposals.get(row.id, (0, True))[1]]
    assert journal_proposals.proposal_counts(store) == (
        len(mutants), sum(proposals.get(i, (0, True))[0] for i in mutants),
        len(set(mutants) & set(first.values())), len(set(mutants) & trained))
    store.close()


def test_a_twin_is_read_as_the_record_it_joined(tmp_path):
    """The search files a twin's trainings under another fingerprint's record (`add_twin`,
    before its evaluations): the best programs list the record's first program once, with the
    newest fitness of either, and so does a salvaged copy; a program that is no twin stays
    apart."""
    store = RunStore.create(tmp_path / "run", {"task": "quadratic"})
    text = "def p(w, g, lr, t):\n    return lr * g\n"
    first, twin, other = (store.add_program(text, (f"hash {i}", key), None, "test", "child")
                          for i, key in enumerate(["record", "twin", "other"]))

    def add(pid, fitness):
        store.add_evaluation(pid, kind=EvalKind.SEARCH, fitness=fitness, status="ok",
                             task="quadratic", seeds=(0,), seconds=0.1, worker="w")

    add(first, -1.0)          # one lucky seed
    journal_twins.add_twin(store, "twin", {"twin": "record"})
    journal_twins.add_twin(store, "other", {"twin": "record"})      # no twin: nothing
    add(twin, -1.0)
    add(other, -0.5)
    add(first, -0.25)         # the record, confirmed on more seeds
    assert [(row.id, e.fitness) for row, e in store.best(5)] == [(other, -0.5), (first, -0.25)]
    assert store.best_fitness([first, twin, other]) == {first: -0.25, twin: -0.25, other: -0.5}
    assert journal_proposals.proposal_counts(store)[2] == 2     # new programs: not the twin
    store.close()
    salvage(tmp_path / "run", tmp_path / "salvaged")
    copy = RunStore.open(tmp_path / "salvaged")
    assert [row.id for row, _ in copy.best(5)] == [other, first]
    copy.close()
