"""The journal benchmark (bench.journal_scale) at a small size: its journal is made by the real
search with synthetic training and says so; the hall of fame the search journaled as it went
equals one computed from nothing; two writers of the hall lose nothing; and the commands it
times run on it (the 300,000-program journal itself is built by `lion-search bench --journal
300000`, not here)."""
import math
import shutil
import sqlite3
from dataclasses import fields

import pytest

from lion_search.bench.journal_scale import (
    benchmark_journal,
    build_journal,
    time_commands,
)
from lion_search.bench.synthetic_pool import SYNTHETIC_WORKER
from lion_search.cli.entry import main
from lion_search.language.parser import parse_program
from lion_search.language.shapes import memory_cost
from lion_search.runs import journal_hall
from lion_search.runs.hall_of_fame import HALL_KINDS, pareto_front, write_hall_of_fame
from lion_search.runs.journal import JOURNAL, EvalKind, RunStore
from lion_search.search.mutate import MutationWeights

PROGRAMS = 400


@pytest.fixture(scope="module")
def journal(tmp_path_factory):
    return build_journal(tmp_path_factory.mktemp("scale") / "run", PROGRAMS)


def copy_of(journal, folder):
    folder.mkdir(parents=True)
    shutil.copy(journal / JOURNAL, folder / JOURNAL)
    return folder


def recomputed(store):
    """Each (length, memory) cell's best (fitness, evaluation id) by parsing every evaluated
    program of the hall's kinds."""
    best = {}
    for kind in HALL_KINDS:
        for e in store.evaluations(kind):
            if not math.isfinite(e.fitness):
                continue
            program = parse_program(store.program(e.program).text)
            cell = (len(program), round(memory_cost(program), 4))
            best[cell] = min(best.get(cell, (math.inf, 0)), (e.fitness, e.id))
    return best


def test_the_benchmark_journal_is_a_search_with_synthetic_training(journal):
    assert benchmark_journal(journal) == PROGRAMS
    store = RunStore.open(journal)
    assert store.last_program_id() >= PROGRAMS and store.state() == "stopped"
    assert store.value("synthetic")["fitness"].startswith("synthetic")
    children = [row for row in store.programs() if row.origin == "child"]
    kinds = {row.mutation.split(":")[0] for row in children}
    assert len(kinds & {f.name for f in fields(MutationWeights)}) >= 4
    trained = [e for e in store.evaluations(EvalKind.SEARCH) if not e.cached]
    assert trained and {e.worker for e in trained} == {SYNTHETIC_WORKER}
    assert store.count(EvalKind.SEARCH, cached=True) > 0       # equivalent children: cache hits
    assert store.count(EvalKind.METAVAL) > 0
    store.close()


def test_the_journaled_hall_equals_one_computed_from_nothing(journal, tmp_path):
    """The search journaled its hall every few dozen evaluations; a copy whose hall tables are
    emptied (as an upgraded or salvaged journal's are) computes the same cells from nothing."""
    kept = RunStore.open(copy_of(journal, tmp_path / "kept"))
    counted, searched, cells = journal_hall.hall(kept)
    assert 0 < counted <= kept.last_evaluation_id() and cells
    assert searched == kept.count(EvalKind.SEARCH, upto=counted)
    emptied = copy_of(journal, tmp_path / "emptied")
    db = sqlite3.connect(emptied / JOURNAL)
    db.execute("DELETE FROM hall")
    db.execute("DELETE FROM hall_progress")
    db.commit()
    db.close()
    fresh = RunStore.open(emptied)
    assert journal_hall.hall(fresh) == (0, 0, [])
    assert pareto_front(fresh) == pareto_front(kept)
    write_hall_of_fame(fresh)
    write_hall_of_fame(kept)
    assert sorted(journal_hall.hall(fresh)[2]) == sorted(journal_hall.hall(kept)[2])
    assert {(length, memory): (fitness, eid) for length, memory, fitness, eid, *_
            in journal_hall.hall(kept)[2]} == recomputed(kept)
    kept.close()
    fresh.close()


def test_two_writers_of_the_hall_lose_nothing(journal, tmp_path):
    store = RunStore.open(copy_of(journal, tmp_path / "run"))
    write_hall_of_fame(store)
    counted, searched, cells = journal_hall.hall(store)
    length, memory, fitness, eid, program, kind, found = cells[0][:7]
    # A writer that counts no further than the journal changes nothing ...
    assert not journal_hall.save_hall(store, counted, searched, [(length, memory, fitness - 1, 1, 1, kind, 0)])
    # ... and one that counts further keeps each cell's better program.
    assert journal_hall.save_hall(store, counted + 1, searched, [(length, memory, fitness + 1, 1, 1, kind, 0)])
    assert journal_hall.hall(store)[2] == cells and journal_hall.hall(store)[0] == counted + 1
    assert journal_hall.save_hall(store, counted + 2, searched, [(length, memory, fitness - 1, 1, 1, kind, 0)])
    assert (length, memory, fitness - 1, 1, 1, kind, 0) == journal_hall.hall(store)[2][0][:7]
    store.close()


def test_bench_journal_refuses_a_tiny_journal_in_one_line(tmp_path, capsys):
    assert main(["bench", "--journal", "10", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "at least 100 programs" in err


@pytest.mark.slow
def test_the_commands_are_timed_on_a_copy(journal, tmp_path):
    before = (journal / JOURNAL).stat().st_mtime
    report = time_commands(journal, tmp_path / "timed")
    assert [c.label for c in report.commands] == [
        "import the program language", "show RUN:best", "show RUN:ID", "show RUN",
        "report RUN", "salvage RUN", "evolve --resume: first new evaluation", "evolve --resume"]
    assert all(c.seconds > 0 for c in report.commands) and report.programs >= PROGRAMS
    assert (journal / JOURNAL).stat().st_mtime == before          # the journal itself is kept
