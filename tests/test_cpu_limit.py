"""`evolve --cpu-limit`: the search stops proposing once its process has used that much CPU time,
finishes what is in flight, and ends "stopped" as at a time limit."""
import os
import subprocess
import time

from lion_search.runs.journal import EvalKind, RunStore
from lion_search.search.config import EvolveConfig
from lion_search.search.evolution import Search
from tests.test_search import CLI, QUICK


def test_a_search_stops_at_its_cpu_limit(tmp_path):
    config = EvolveConfig(task="quadratic", population=10, workers=1, promote_every=0,
                          budget=1_000_000, held_back_seeds=())
    store = RunStore.create(tmp_path / "run", config.to_json())
    search = Search(store, config)
    search.setup()
    search.load()
    limit = time.process_time() + 3     # the process's CPU time, as the command counts it
    stats = search.run(cpu_limit=limit)
    assert 0 < stats.trained < config.budget
    assert time.process_time() >= limit
    assert not search.pending and not search.stalled
    assert store.count(EvalKind.SEARCH, cached=False) == stats.trained
    store.close()


def test_evolve_cpu_limit_stops_the_command_cleanly(tmp_path):
    out = tmp_path / "run"
    command = subprocess.Popen([*CLI, "evolve", "--budget", "1000000", *QUICK, "--cpu-limit",
                                "12", "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(command.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, command.stderr.read()
    cpu = usage.ru_utime + usage.ru_stime
    assert 12 <= cpu < 12 + 30       # the final promotion round and held-back check follow it
    store = RunStore.open(out)
    assert store.state() == "stopped"
    assert 0 < store.count(EvalKind.SEARCH, cached=False) < 1_000_000
    store.close()


def test_a_bad_cpu_limit_is_one_line(tmp_path):
    for value in ("0", "-3", "nan"):
        result = subprocess.run([*CLI, "evolve", *QUICK, "--cpu-limit", value, "--out",
                                 str(tmp_path / "run")], capture_output=True, text=True,
                                timeout=120)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, result.stderr
        assert "--cpu-limit must be a positive number of seconds" in lines[0]
        assert not (tmp_path / "run").exists()
