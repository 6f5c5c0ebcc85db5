"""A damaged run journal (issue 14, item 9): 4 KB of zeros in the middle of a finished run's
`journal.sqlite` (as a disk fault would leave), a journal cut short, or another file in its
place. Every command that reads a journal answers in one line naming the file, what is wrong and
what to do; `runs` marks it damaged; `lion-search salvage` copies the readable rows into a new
run folder (each row as it was), and `evolve --out NEW --resume` continues from there."""
import json
import shutil
import sqlite3

import pytest

from lion_search.cli.entry import main
from lion_search.inspect.summary import summarize
from lion_search.language.errors import JournalDamaged, RunError
from lion_search.runs.journal import JOURNAL, RunStore
from tests.conftest import small_run

PAGE = 4096


def zero_middle(journal):
    """Write 4 KB of zeros over the page nearest the middle of the file that holds programs
    (SQLite's dbstat names each page's table), so that the damage costs rows: zeros on an index
    page lose nothing that salvage needs, though opening the journal finds them just the same."""
    size = journal.stat().st_size
    db = sqlite3.connect(journal)
    try:
        pages = [n for n, in db.execute("SELECT pageno FROM dbstat WHERE name = 'programs' "
                                        "AND pagetype = 'leaf'")]
    except sqlite3.OperationalError:            # an SQLite without dbstat: the middle itself
        pages = [size // 2 // PAGE + 1]
    finally:
        db.close()
    page = min(pages, key=lambda n: abs((n - 1) * PAGE - size // 2))
    with open(journal, "r+b") as f:
        f.seek((page - 1) * PAGE)
        f.write(bytes(PAGE))


def damage(folder, how):
    journal = folder / JOURNAL
    if how == "zeros":
        zero_middle(journal)
    elif how == "truncated":
        with open(journal, "r+b") as f:
            f.truncate(journal.stat().st_size // 2 + 100)
    elif how == "not-sqlite":
        journal.write_bytes(b"these are not the pages you are looking for\n" * 200)
    elif how == "empty":
        journal.write_bytes(b"")


@pytest.fixture
def runs(tmp_path_factory, tmp_path):
    """runs/ok (a copy of the shared small run: quadratic, 40 trained evaluations) and
    runs/damaged (another copy, with 4 KB of zeros in its middle)."""
    root = tmp_path / "runs"
    shutil.copytree(small_run(tmp_path_factory), root / "ok")
    shutil.copytree(root / "ok", root / "damaged")
    damage(root / "damaged", "zeros")
    return root


def one_line(capsys, code, expected=2):
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert code == expected, captured.out + captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_every_command_that_reads_a_damaged_journal_answers_in_one_line(runs, tmp_path, capsys):
    run = runs / "damaged"
    commands = [["show", str(run)], ["show", f"{run}:20"], ["show", f"{run}:best"],
                ["show", str(run), "--lineage", "best"], ["report", str(run)],
                ["export", f"{run}:20", "-o", str(tmp_path / "x.py")],
                ["simplify", f"{run}:20"], ["funnel", str(run)],
                ["evolve", "--out", str(run), "--resume", "--workers", "1"]]
    for command in commands:
        line = one_line(capsys, main(command))
        assert line.startswith("lion-search: error: run journal") and str(run / JOURNAL) in line
        assert "is damaged (database disk image is malformed" in line, command
        assert f"lion-search salvage {run}" in line
    assert not (tmp_path / "x.py").exists()
    assert main(["runs", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "damaged" in out and "finished" in out and "lion-search salvage" in out
    assert main(["runs", str(runs), "--json"]) == 0
    states = {r["path"].split("/")[-1]: r["state"] for r in json.loads(capsys.readouterr().out)}
    assert states == {"ok": "finished", "damaged": "damaged"}


@pytest.mark.parametrize("how,why", [("truncated", "database disk image is malformed"),
                                     ("not-sqlite", "file is not a database"),
                                     ("empty", "the file is empty")])
def test_a_truncated_empty_or_foreign_journal_is_one_line_too(runs, how, why, capsys):
    run = runs / "ok"
    damage(run, how)
    line = one_line(capsys, main(["show", str(run)]))
    assert f"run journal '{run / JOURNAL}' is damaged ({why}" in line
    assert main(["runs", str(runs)]) == 0 and "Traceback" not in capsys.readouterr().out


def test_reads_past_the_open_check_meet_the_damage_as_one_error(runs):
    """A journal too large to check whole when opened (verify=False) is damaged where a read
    meets the bad page: JournalDamaged (a one-line RunError), never sqlite3's error."""
    store = RunStore.open(runs / "damaged", verify=False)
    failures = []
    for read in (lambda: list(store.programs()), lambda: store.evaluations("search"),
                 lambda: store.evaluations("calibration"), lambda: summarize(store, 5),
                 lambda: store.best(10), lambda: store.count("search")):
        try:
            read()
        except RunError as err:
            assert isinstance(err, JournalDamaged) and len(str(err).splitlines()) == 1
            failures.append(err)
    store.close()
    assert failures


def rows(journal, table):
    db = sqlite3.connect(journal)
    try:
        return {r[0]: r for r in db.execute(f"SELECT * FROM {table} ORDER BY id")}
    finally:
        db.close()


def test_salvage_keeps_the_readable_rows_and_resume_continues_from_them(runs, capsys):
    original, damaged, out = runs / "ok", runs / "damaged", runs / "salvaged"
    assert main(["salvage", str(damaged), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"lion-search evolve --out {out} --resume" in printed
    for table in ("programs", "evaluations"):
        before, after = rows(original / JOURNAL, table), rows(out / JOURNAL, table)
        assert 0 < len(after) <= len(before)
        rebuilt = [i for i in after if after[i] != before.get(i)]
        # Every salvaged row is the original's; a lost seed program is rebuilt with its text.
        assert all(after[i][:3] == before[i][:3] and after[i][6] == "seed" for i in rebuilt)
    lost = len(rows(original / JOURNAL, "programs")) + len(rows(original / JOURNAL, "evaluations")) \
        - len(rows(out / JOURNAL, "programs")) - len(rows(out / JOURNAL, "evaluations"))
    assert lost > 0                                     # the zeros did cost rows
    store = RunStore.open(out)
    trained = store.count("search", cached=False)
    config = store.config
    store.close()
    assert 0 < trained <= config["budget"] == 40
    assert main(["salvage", str(damaged), "-o", str(out)]) == 2          # never overwritten
    assert "already exists" in capsys.readouterr().err
    assert main(["evolve", "--out", str(out), "--resume", "--budget", "46", "--workers", "1"]) == 0
    capsys.readouterr()
    store = RunStore.open(out)
    assert store.count("search", cached=False) == 46 and store.state() == "finished"
    store.close()


def test_salvage_of_what_cannot_be_read_at_all_is_one_line(runs, capsys):
    damage(runs / "ok", "not-sqlite")
    line = one_line(capsys, main(["salvage", str(runs / "ok")]))
    assert "nothing in" in line and "can be read" in line
    assert not (runs / "ok-salvaged").exists()
