"""Listing run folders, and reading a journal while another connection is writing to it."""
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from lion_search.inspect.lineage import ancestry
from lion_search.inspect.report.page import write_report
from lion_search.inspect.summary import summarize
from lion_search.language.errors import RunError
from lion_search.runs.folders import list_runs, run_info, runs_json, runs_table
from lion_search.runs.hall_of_fame import (
    pareto_front,
    read_hall_of_fame,
    write_hall_of_fame,
)
from lion_search.runs.journal import RunStore
from tests.conftest import small_run


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """runs/ with a finished run, a running one, an interrupted one, a `latest` link, a folder
    that is not a run, a stray file and a folder whose journal is not a database."""
    root = tmp_path_factory.mktemp("runs")
    source = small_run(tmp_path_factory)
    for name in ("a-finished", "b-running", "c-interrupted"):
        shutil.copytree(source, root / name)
    store = RunStore.open(root / "b-running")
    store.set_state("running")                       # this process is its (live) writer
    store.close()
    store = RunStore.open(root / "c-interrupted")
    store.set_state("running")
    store._set("pid", str(_dead_pid()))              # the writer died without a word
    store.close()
    (root / "latest").symlink_to("b-running")
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_text("x")
    (root / "README.md").write_text("runs go here")
    (root / "broken").mkdir()
    (root / "broken" / "journal.sqlite").write_text("not a database")
    return root


def test_lists_each_run_once_with_its_state(root):
    infos = list_runs(root)
    assert [i.path.name for i in infos] == ["a-finished", "b-running", "c-interrupted", "broken"]
    states = {i.path.name: i.state for i in infos}
    assert states == {"a-finished": "finished", "b-running": "running",
                      "c-interrupted": "interrupted", "broken": "damaged"}
    assert [i.path.name for i in infos if i.latest] == ["b-running"]
    broken = infos[-1]
    assert "not a database" in broken.error and broken.trained == 0


def test_counts_budget_and_best_fitness(root):
    info = run_info(root / "a-finished")
    store = RunStore.open(root / "a-finished")
    assert info.task == "quadratic" and info.budget == 40
    assert info.trained == store.count("search", cached=False) == 40
    assert info.cache_hits == store.count("search", cached=True)
    assert info.best_fitness == store.best(1)[0][1].fitness
    assert info.created == pytest.approx(float(store._get("created")))
    store.close()


def test_json_rows(root):
    rows = json.loads(json.dumps(runs_json(list_runs(root)), allow_nan=False))
    row = next(r for r in rows if r["path"].endswith("a-finished"))
    assert row["progress"] == 1.0 and row["state"] == "finished" and row["budget"] == 40
    assert next(r for r in rows if r["state"] == "damaged")["best_fitness"] is None


def test_missing_root_lists_nothing(tmp_path):
    assert list_runs(tmp_path / "nowhere") == []


def test_readers_work_while_another_connection_writes(tmp_path_factory, tmp_path):
    """A writer appends children and evaluations (sometimes holding its write transaction open)
    while the readers run: each sees a consistent, growing run and nothing fails or blocks."""
    folder = tmp_path / "live"
    shutil.copytree(small_run(tmp_path_factory), folder)
    store = RunStore.open(folder)
    store.set_state("running")
    start = store.count("search")
    parent = store.best(1)[0][0]
    store.close()
    added = 60
    errors: list[BaseException] = []
    done = threading.Event()

    def write() -> None:
        writer = RunStore.open(folder)             # its own connection, as a search has
        try:
            for i in range(added):
                text = parent.text.replace("return lr * ", f"return {1 + i / 100:g} * lr * ")
                pid = writer.add_program(text, (f"live{i}", f"fp{i}"), parent.id, "live test",
                                         "child")
                if i % 10 == 0:           # hold the write lock a while, mid-transaction
                    writer.db.execute("BEGIN IMMEDIATE")
                    writer.db.execute("UPDATE meta SET value = value WHERE key = 'heartbeat'")
                    time.sleep(0.05)
                    writer.db.execute("COMMIT")
                writer.add_evaluation(pid, kind="search", fitness=1e-8 * (1 + i), status="ok",
                                      task="quadratic", seeds=(0,), seconds=0.001,
                                      worker="live")
                time.sleep(0.005)
        except BaseException as err:  # noqa: BLE001  (reported by the test below)
            errors.append(err)
        finally:
            writer.set_state("finished")
            writer.close()
            done.set()

    thread = threading.Thread(target=write)
    thread.start()
    seen = []
    try:
        while True:
            finished = done.is_set()
            info = next(i for i in list_runs(tmp_path) if i.path.name == "live")
            assert info.state == "finished" if finished else info.state in ("running", "finished")
            seen.append(info.trained)
            reader = RunStore.open(folder)
            summary = summarize(reader, 3)
            assert summary["top"]
            entries = pareto_front(reader)
            assert entries and any(e.on_front for e in entries)
            path = write_hall_of_fame(reader)
            assert read_hall_of_fame(path)
            assert ancestry(reader, summary["top"][0]["id"])[-1].id == summary["top"][0]["id"]
            reader.close()
            if finished:
                break
        reader = RunStore.open(folder)
        write_report(reader)                      # once more on the complete journal
        final = reader.count("search")
        reader.close()
    finally:
        thread.join()
    assert not errors, errors
    assert seen == sorted(seen) and seen[-1] == 40 + added
    assert final == start + added
    assert len(set(seen)) >= 3, seen               # the readers saw the run grow


@pytest.mark.slow
def test_commands_read_a_live_search(tmp_path):
    """A real search in another process: while it runs, the readers see it running, growing."""
    out = tmp_path / "runs" / "live"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    search = subprocess.Popen(
        [sys.executable, "-m", "lion_search.cli", "evolve", "--task", "quadratic", "--budget",
         "3000", "--population", "20", "--workers", "1", "--promote-every", "0", "--out",
         str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        counts = []
        deadline = time.monotonic() + 120
        while len(counts) < 3 and time.monotonic() < deadline and search.poll() is None:
            time.sleep(1.0)
            infos = list_runs(out.parent)
            if not infos or infos[0].trained == 0:
                continue
            assert infos[0].state == "running"
            counts.append(infos[0].trained)
            store = RunStore.open(out)
            assert pareto_front(store)
            write_report(store)
            store.close()
        assert len(counts) >= 2 and counts == sorted(counts) and counts[-1] > counts[0]
    finally:
        search.terminate()
        search.wait(timeout=60)
    assert math.isfinite(run_info(out).best_fitness)


def test_runs_table_has_a_row_per_run(root):
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(runs_table(list_runs(root)))
    text = console.export_text()
    assert "b-running (latest)" in text and "40/40 (100%)" in text
    assert "interrupted" in text and "damaged" in text


def test_a_new_journal_appears_complete_or_not_at_all(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    seen_while_writing = []
    write = RunStore._write_new_journal.__func__

    def write_and_look(cls, path, config):
        write(cls, path, config)
        with pytest.raises(RunError) as err:             # a reader of the half-made run
            RunStore.open(folder)
        seen_while_writing.append(str(err.value))

    monkeypatch.setattr(RunStore, "_write_new_journal", classmethod(write_and_look))
    RunStore.create(folder, {"task": "quadratic"}).close()
    assert seen_while_writing == [f"{str(folder)!r} is not a lion-search run folder "
                                  "(no journal.sqlite)"]
    store = RunStore.open(folder)
    assert store.config == {"task": "quadratic"} and store.state() == "running"
    store.close()
    assert not (folder / "journal.sqlite.new").exists()


def test_runs_started_in_the_same_second_get_distinct_folders(tmp_path, monkeypatch):
    from lion_search.runs import journal
    from lion_search.runs.journal import new_run_folder

    monkeypatch.setattr(journal.time, "strftime", lambda fmt: "2026-11-21_18-32-53")
    first = new_run_folder(tmp_path)
    first.mkdir()
    second = new_run_folder(tmp_path)
    second.mkdir()
    assert second.name == first.name + "-2" and new_run_folder(tmp_path).name == first.name + "-3"
