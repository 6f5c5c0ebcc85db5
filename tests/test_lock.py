"""One writer per run: the writer lock (runs/lock.py), a second writer refused at once, the lock
freed by SIGKILL, SIGTERM stopping like Ctrl-C, and a full disk losing nothing committed."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import lion_search
from lion_search.language.errors import DiskFull, RunError
from lion_search.runs.folders import run_info
from lion_search.runs.journal import RunStore
from lion_search.runs.lock import LOCK, RunLocked, hold, holder, is_held
from lion_search.search.config import EvolveConfig
from lion_search.search.evolution import Search
from tests.conftest import small_run
from tests.test_search import CLI, QUICK, cli, search_evaluations

HOLDER = ("import sys, time\nfrom lion_search.runs.lock import hold\n"
          "lock = hold(sys.argv[1], 'lion-search evolve')\nprint('held', flush=True)\ntime.sleep(600)\n")


def trained_programs(folder: Path) -> list[int]:
    return [program for _, program, cached in search_evaluations(folder) if not cached]


def assert_one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.fixture
def run(tmp_path_factory, tmp_path):
    """A copy of a real finished run (40 trained evaluations on the quadratic task)."""
    folder = tmp_path / "run"
    shutil.copytree(small_run(tmp_path_factory), folder)
    return folder


def start_holder(folder: Path) -> subprocess.Popen:
    """Another process (not this one) that holds `folder`'s writer lock until it is killed."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


# ------------------------------------------------------------------------------- the lock

def test_a_second_writer_is_refused_with_the_holders_pid_and_host(run):
    assert is_held(run) is None                      # no lock file yet: a run from before locks
    with hold(run, "lion-search evolve"):
        assert is_held(run) is True
        with pytest.raises(RunLocked) as refused:
            hold(run, "lion-search simplify")
        message = str(refused.value)
        assert "\n" not in message
        assert f"process {os.getpid()} on host {socket.gethostname()}" in message
        assert "wait for it to end" in message and f"kill {os.getpid()}" in message
        assert holder(run).command == "lion-search evolve"
    assert is_held(run) is False
    with hold(run, "lion-search funnel"):                        # free again once released
        assert holder(run).pid == os.getpid()


def test_the_kernel_frees_the_lock_of_a_killed_holder(run):
    process = start_holder(run)
    try:
        with pytest.raises(RunLocked, match=f"process {process.pid} on host"):
            hold(run, "lion-search evolve")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    started = time.monotonic()
    with hold(run, "lion-search evolve"):
        assert time.monotonic() - started < 0.5


def test_a_missing_folder_is_not_locked(tmp_path):
    with pytest.raises(RunError, match="cannot open the writer lock"):
        hold(tmp_path / "absent", "lion-search evolve")
    assert is_held(tmp_path / "absent") is None


def test_running_or_interrupted_is_told_by_the_lock_not_by_a_pid(run):
    store = RunStore.open(run)
    store.set_state("running")                       # its recorded pid (ours) is alive...
    store.close()
    (run / LOCK).touch()                             # ...but nobody holds its lock
    assert run_info(run).state == "interrupted"
    store = RunStore.open(run)
    store._set("pid", "999999999")                   # a pid from another host, unknown here
    store.close()
    process = start_holder(run)
    try:
        assert run_info(run).state == "running"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert run_info(run).state == "interrupted"


def test_commands_that_append_are_refused_while_runs_reads(run):
    other = run.parent / "other"
    shutil.copytree(run, other)
    process = start_holder(run)
    try:
        for args in (["evolve", "--out", str(run), "--resume", "--budget", "60"],
                     ["evolve", *QUICK, "--budget", "5", "--out", str(run), "--force"],
                     ["funnel", str(run)],
                     ["salvage", str(other), "-o", str(run), "--force"]):
            result = cli(*args)
            assert result.returncode == 2, (args, result.stdout)
            assert f"process {process.pid} on host" in assert_one_line(result.stderr), args
        listed = json.loads(cli("runs", str(run.parent), "--json").stdout)
        assert {row["path"]: row["state"] for row in listed}[str(run)] == "finished"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert len(trained_programs(run)) == 40                  # nothing was appended


@pytest.mark.slow
def test_simplify_into_the_run_is_refused_while_show_and_export_read(run, tmp_path):
    process = start_holder(run)
    try:
        result = cli("simplify", f"{run}:best", "--no-ablation")
        assert result.returncode == 2
        assert f"process {process.pid} on host" in assert_one_line(result.stderr)
        assert json.loads(cli("show", str(run), "--json").stdout)["evaluations"] == 40
        assert cli("export", f"{run}:best", "-o", str(tmp_path / "best.py")).returncode == 0
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert [row.origin for row in RunStore.open(run).programs()].count("simplified") == 0


def test_a_notebook_search_holds_the_lock_and_lets_it_go(tmp_path):
    folder = lion_search.evolve(out=tmp_path / "run", task="quadratic", budget=5, population=8,
                                workers=1, promote_every=0)
    assert holder(folder).command == "lion_search.evolve()" and holder(folder).pid == os.getpid()
    assert is_held(folder) is False and run_info(folder).state == "finished"


# ----------------------------------------------------------------- searches on the command line

def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def has_trained(folder: Path, n: int) -> bool:
    return (folder / "journal.sqlite").exists() and len(trained_programs(folder)) >= n


def test_a_second_search_on_a_running_run_exits_at_once_and_the_first_meets_its_budget(tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen(CLI + ["evolve", "--budget", "100", *QUICK, "--out", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: is_held(out))
    started = time.monotonic()
    second = cli("evolve", "--out", str(out), "--resume", "--budget", "150")
    elapsed = time.monotonic() - started
    assert first.poll() is None                      # the first was running all along
    assert second.returncode != 0 and elapsed < 2.0, (second.returncode, elapsed)
    line = assert_one_line(second.stderr)
    assert f"process {first.pid} on host {socket.gethostname()}" in line
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert "finished: 100 evaluations trained" in stdout
    trained = trained_programs(out)
    assert len(trained) == 100 and len(set(trained)) == 100
    assert RunStore.open(out).config["budget"] == 100


def test_after_sigkill_resume_starts_at_once(tmp_path):
    out = tmp_path / "run"
    # (generations of 4: a checkpoint, where the journal is committed, after 32 children)
    process = subprocess.Popen(CLI + ["evolve", "--budget", "50", *QUICK, "--generation", "4",
                                      "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: has_trained(out, 10))
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = search_evaluations(out)
    assert is_held(out) is False and run_info(out).state == "interrupted"
    result = cli("evolve", "--out", str(out), "--resume")
    assert result.returncode == 0, result.stderr
    after = search_evaluations(out)
    assert after[:len(before)] == before
    assert len(trained_programs(out)) == 50 and run_info(out).state == "finished"


def test_sigterm_stops_like_ctrl_c_and_the_run_resumes_without_loss(tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen(CLI + ["evolve", "--budget", "5000", *QUICK, "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: has_trained(out, 10))
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert f"resume with: lion-search evolve --out {out} --resume" in stdout
    assert "Traceback" not in stderr
    assert RunStore.open(out).state() == "interrupted" and is_held(out) is False
    before = search_evaluations(out)
    budget = len(trained_programs(out)) + 10
    result = cli("evolve", "--out", str(out), "--resume", "--budget", str(budget))
    assert result.returncode == 0, result.stderr
    after = search_evaluations(out)
    assert after[:len(before)] == before                       # nothing committed was lost
    assert len(trained_programs(out)) == budget, (len(before), result.stdout[-2000:])
    assert max(Counter(program for _, program, _ in after).values()) == 1


# ------------------------------------------------------------------------------ a full disk

def test_a_full_journal_stops_the_search_and_resume_loses_nothing(tmp_path):
    """SQLite's own SQLITE_FULL, raised where the store writes: after the first checkpoint
    the journal may not grow by a page (PRAGMA max_page_count, on this connection only). (A
    deterministic search commits at checkpoints: it is stopped once its second is taken.)"""
    config = EvolveConfig(task="quadratic", population=10, workers=1, budget=300,
                          promote_every=0, generation=5)
    store = RunStore.create(tmp_path / "run", config.to_json())
    search = Search(store, config)
    search.setup()
    search.load()
    search.run(stop=lambda: (store.value("checkpoint") or {}).get("generation", 0) > 1)
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")
    search = Search(store, config)
    search.load()
    with pytest.raises(DiskFull) as full:
        search.run()
    message = str(full.value)
    assert "\n" not in message and str(tmp_path / "run") in message and "MiB free" in message
    assert "--resume" in message
    store.close()
    before = search_evaluations(tmp_path / "run")
    assert 10 <= len([row for row in before if not row[2]]) < config.budget
    store = RunStore.open(tmp_path / "run")            # a new connection: room again
    search = Search(store, config)
    search.load()
    assert search.run().trained == config.budget
    store.close()
    after = search_evaluations(tmp_path / "run")
    assert after[:len(before)] == before
    assert max(Counter(program for _, program, _ in after).values()) == 1


def small_filesystem(mount: Path) -> subprocess.Popen | None:
    """A process in a mount namespace of its own where a 6 MiB tmpfs is mounted at `mount`
    (None where this machine does not allow it); run commands there with `nsenter`."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
        return None
    mount.mkdir()
    keeper = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         f"mount -t tmpfs -o size=6m tmpfs '{mount}' && echo mounted && exec sleep 900"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if keeper.stdout.readline().strip() != "mounted":
        keeper.wait()
        return None
    return keeper


READ_INSIDE = ("import json, sqlite3, sys\nrows = sqlite3.connect(sys.argv[1]).execute(\"SELECT id, "
               "program, cached FROM evaluations WHERE kind = 'search' ORDER BY id\").fetchall()\n"
               "print(json.dumps(rows))\n")


@pytest.mark.slow
def test_a_search_on_a_full_disk_stops_with_one_line_and_resumes_once_space_is_freed(tmp_path):
    mount = tmp_path / "disk"
    keeper = small_filesystem(mount)
    if keeper is None:
        pytest.skip("mounting a small tmpfs needs root, unshare and nsenter")
    there = ["nsenter", "-t", str(keeper.pid), "-m", "--"]
    out = mount / "run"

    def evaluations() -> list[tuple]:
        """The run's search evaluations (id, program, cached), read inside the namespace."""
        if not (inside / "run" / "journal.sqlite").exists():
            return []
        read = subprocess.run(there + [sys.executable, "-c", READ_INSIDE,
                                       str(out / "journal.sqlite")],
                              capture_output=True, text=True, check=True)
        return [tuple(row) for row in json.loads(read.stdout)]

    inside = Path(f"/proc/{keeper.pid}/root{mount}")   # the tmpfs, for files (not SQLite)
    try:
        process = subprocess.Popen(there + CLI + ["evolve", "--budget", "5000", *QUICK,
                                                  "--out", str(out)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: sum(1 for *_, cached in evaluations() if not cached) >= 10)
        with open(inside / "filler", "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 2**16)
                    filler.flush()
            except OSError:
                pass
        _, stderr = process.communicate(timeout=120)
        line = assert_one_line(stderr)
        assert process.returncode == 2 and f"run folder {str(out)!r} is full" in line, line
        assert "MiB free" in line and f"lion-search evolve --out {out} --resume" in line
        (inside / "filler").unlink()
        before = evaluations()
        budget = sum(1 for *_, cached in before if not cached) + 15
        result = subprocess.run(there + CLI + ["evolve", "--out", str(out), "--resume",
                                               "--budget", str(budget)],
                                capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stderr
        after = evaluations()
        assert after[:len(before)] == before
        assert sum(1 for *_, cached in after if not cached) == budget
    finally:
        keeper.kill()
        keeper.wait()
