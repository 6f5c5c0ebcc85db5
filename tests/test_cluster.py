"""A search on a real two-node Ray cluster, set up as the README's "Running on a cluster" says,
survives losing a node: the second node's raylet is killed mid-run, and the run still meets its
budget with every evaluation in the journal.

The README's commands run as written except for the port and the `--temp-dir` folders (a free
port, and folders under a new short folder in /tmp: Ray's socket paths must stay under 108
bytes), so that the test cannot meet other Ray use on the machine; for the same reason it does
not run the README's `ray stop` (which stops every Ray process of the machine) but kills, by pid,
the processes of its own cluster: those whose command line names its folder, and their
children.
"""
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from readme_blocks import commands, section_blocks

pytestmark = pytest.mark.slow
BIN = str(Path(sys.executable).parent)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            table[int(entry.name)] = (ppid, cmdline.decode(errors="replace"))
    return table


def cluster_pids(marker: str, program: str = "") -> set[int]:
    """The processes whose command line contains `marker` (and `program`), and all their
    descendants."""
    table = processes()
    found = {pid for pid, (_, cmd) in table.items()
             if marker in cmd and program in cmd and pid != os.getpid()}
    while children := {pid for pid, (ppid, _) in table.items() if ppid in found} - found:
        found |= children
    return found


def kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def journal(path: Path) -> tuple[int, int, int, set[str]]:
    """(trained search evaluations, children with no search evaluation, children evaluated
    more than once, the workers that trained them) in a run journal (zeros before it exists)."""
    if not path.exists():
        return 0, 0, 0, set()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        workers = [w for (w,) in db.execute("SELECT worker FROM evaluations WHERE "
                                            "kind = 'search' AND cached = 0")]
        missing = db.execute("SELECT COUNT(*) FROM programs p WHERE origin = 'child' AND NOT "
                             "EXISTS (SELECT 1 FROM evaluations e WHERE e.program = p.id "
                             "AND e.kind = 'search')").fetchone()[0]
        twice = db.execute("SELECT COUNT(*) FROM (SELECT program FROM evaluations WHERE "
                           "kind = 'search' GROUP BY program HAVING COUNT(*) > 1)").fetchone()[0]
    except sqlite3.OperationalError:
        return 0, 0, 0, set()
    finally:
        db.close()
    return len(workers), missing, twice, set(workers)


def test_a_search_on_a_two_node_cluster_survives_losing_a_node(tmp_path):
    (_, task_code), _ = section_blocks("Your own task")
    (_, code), = section_blocks("Running on a cluster")
    port = str(free_port())
    ray_dirs = tempfile.mkdtemp(prefix="lion-search-cluster-", dir="/tmp")
    lines = [line.replace("6379", port).replace("/tmp/ray-", f"{ray_dirs}/ray-")
             for line in commands(code)]
    work = tmp_path / "work"
    work.mkdir()
    (work / "my_task.py").write_text(task_code)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    search = None
    try:
        for line in lines:
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                env[name] = value
            elif line.startswith("ray start"):
                # Each node from its own folder: the workers cannot open my_task.py by its
                # relative path, so they import the copy Ray's runtime environment sent them.
                folder = tmp_path / ("head" if "--head" in line else "node2")
                folder.mkdir()
                subprocess.run(line, shell=True, cwd=folder, env=env, check=True,
                               capture_output=True, timeout=180)
            elif line.startswith("lion-search evolve"):
                budget = int(line.split("--budget ")[1].split()[0])
                out = work / line.split("--out ")[1].split()[0]
                search = subprocess.Popen(line, shell=True, cwd=work, env=env, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            else:
                assert line == "ray stop", f"unexpected command in the README: {line}"
        assert search is not None

        # Mid-run (the search has trained), with a worker on the second node: kill that
        # node's raylet (its workers die with it).
        node2 = f"{ray_dirs}/ray-node2"
        deadline = time.monotonic() + 400
        while True:
            table = processes()
            node = cluster_pids(node2, "raylet/raylet")   # the raylet and its workers
            actors = {str(pid) for pid in node
                      if table.get(pid, (0, ""))[1].startswith("ray::_Actor")}
            trained = journal(out / "journal.sqlite")[0]
            if actors and trained:
                break
            assert search.poll() is None and time.monotonic() < deadline, \
                f"no worker started on the second node ({trained} evaluations trained)"
            time.sleep(0.2)
        kill(pid for pid in node if "raylet/raylet" in table[pid][1])
        assert trained < budget

        stdout, stderr = search.communicate(timeout=500)
        assert search.returncode == 0, f"{stdout}\n{stderr}"
        trained, missing, twice, workers = journal(out / "journal.sqlite")
        assert (trained, missing, twice) == (budget, 0, 0)
        assert {w.rpartition(":")[2] for w in workers} - actors, \
            "no worker trained after the node was lost"
    finally:
        if search is not None and search.poll() is None:
            search.kill()
            search.wait()
        kill(cluster_pids(ray_dirs))
        shutil.rmtree(ray_dirs, ignore_errors=True)
