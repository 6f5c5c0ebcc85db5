"""A journal written before the journal's schema version 2 (tests/data/journal_v1.sqlite: made by
`lion-search evolve --task quadratic --budget 40 --population 10 --workers 1 --promote-every 20
--promote-tasks rosenbrock --metaval-task logreg --metaval-every 10 --restart-every 30`, then
`lion-search simplify RUN:best`, with the code of commit 7b63d2e). It opens, shows what it showed
then (tests/data/journal_v1_show.json: `lion-search show RUN --json` then, less the path; fields
added to `show` since may come too), and resumes and salvages."""
import json
import math
import shutil
from pathlib import Path

import pytest

from lion_search.cli.entry import main
from lion_search.inspect.lineage import ancestry
from lion_search.inspect.summary import summarize
from lion_search.runs.journal import JOURNAL, EvalKind, RunStore
from lion_search.runs.journal_schema import SCHEMA_VERSION

DATA = Path(__file__).parent / "data"


def holds(shown, expected) -> bool:
    """Whether `shown` says all that `expected` said, the same way (fields added since are
    allowed: dicts may hold more keys; lists match item by item)."""
    if isinstance(expected, dict):
        return isinstance(shown, dict) and all(k in shown and holds(shown[k], v)
                                               for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(shown, list) and len(shown) == len(expected) and all(
            holds(a, b) for a, b in zip(shown, expected))
    return shown == expected


@pytest.fixture
def old_run(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    shutil.copy(DATA / "journal_v1.sqlite", folder / JOURNAL)
    return folder


def test_an_old_journal_shows_what_it_showed(old_run, capsys):
    assert main(["show", str(old_run), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown.pop("run") == str(old_run)
    assert holds(shown, json.loads((DATA / "journal_v1_show.json").read_text()))
    store = RunStore.open(old_run)
    assert summarize(store, 10)["best"]["id"] == 34
    assert [step.id for step in ancestry(store, 34)] == [10, 20, 34]
    store.close()
    assert main(["show", f"{old_run}:best", "--lineage", "best"]) == 0
    assert "ancestry: #34 (7.196e-09) <- #20 (1.358e-08) <- #10 (8.984e-09)" \
        in capsys.readouterr().out


def test_an_old_journal_resumes(old_run, capsys):
    assert main(["evolve", "--out", str(old_run), "--resume", "--budget", "44",
                 "--workers", "1"]) == 0
    capsys.readouterr()
    store = RunStore.open(old_run)
    assert store.count("search", cached=False) == 44 and store.state() == "finished"
    assert store.count("promoted") >= 6
    store.close()
    assert main(["show", str(old_run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["evaluations"] == 44


def test_an_old_journal_salvages(old_run, tmp_path, capsys):
    out = tmp_path / "salvaged"
    assert main(["salvage", str(old_run), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["show", str(out), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    shown.pop("run")
    expected = json.loads((DATA / "journal_v1_show.json").read_text())
    assert holds(shown["best"], expected["best"]) and holds(shown["top"], expected["top"])
    store = RunStore.open(out)
    assert store.count(EvalKind.SEARCH) == 48 and math.isfinite(store.best(1)[0][1].fitness)
    promotions = store.evaluations(EvalKind.PROMOTION)    # migrated as the original would be
    assert store.value("schema") == SCHEMA_VERSION and len(promotions) == 6
    assert all(e.worker == "promotion" and e.lr_factor > 0 for e in promotions)
    store.close()


def test_an_old_journal_gets_the_indexes_and_its_hall_of_fame_once(old_run, capsys):
    """Opened, it gains version 4's indexes and an empty hall of fame, which its first write
    (`report`, or its resumed search) fills with what parsing every program gives; a resumed
    search then keeps it up to date."""
    from lion_search.language.parser import parse_program
    from lion_search.language.shapes import memory_cost
    from lion_search.runs import journal_hall
    from lion_search.runs.hall_of_fame import HALL_KINDS, pareto_front

    store = RunStore.open(old_run)
    plans = [row[3] for row in store.db.execute(
        "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM evaluations WHERE kind = 'search' AND cached = 1")]
    assert plans == ["SEARCH evaluations USING COVERING INDEX evaluations_by_cache_hit "
                     "(kind=? AND cached=?)"]
    assert journal_hall.hall(store) == (0, 0, [])
    shown = pareto_front(store)
    store.close()
    assert main(["report", str(old_run)]) == 0
    capsys.readouterr()
    store = RunStore.open(old_run)
    counted, _, cells = journal_hall.hall(store)
    assert counted == store.last_evaluation_id() and pareto_front(store) == shown
    best = {}
    for kind in HALL_KINDS:
        for e in store.evaluations(kind):
            program = parse_program(store.program(e.program).text)
            cell = (len(program), round(memory_cost(program), 4))
            if math.isfinite(e.fitness):
                best[cell] = min(best.get(cell, (math.inf, 0)), (e.fitness, e.id))
    assert {(length, memory): (fitness, eid) for length, memory, fitness, eid, *_ in cells} == best
    store.close()
    assert main(["evolve", "--out", str(old_run), "--resume", "--budget", "44",
                 "--workers", "1"]) == 0
    capsys.readouterr()
    store = RunStore.open(old_run)
    assert journal_hall.hall_counted(store) == store.last_evaluation_id() > counted
    store.close()
