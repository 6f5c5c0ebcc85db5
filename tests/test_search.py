"""The search: budgets, resuming a killed run, surviving a dead worker, and bad input."""
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from lion_search.cli import main
from lion_search.inspect.summary import summarize
from lion_search.language.errors import LionSearchError
from lion_search.language.parser import parse_program
from lion_search.runs.journal import RunStore
from lion_search.search import generations
from lion_search.search.config import EvolveConfig
from lion_search.search.evolution import Search
from lion_search.search.observer import QuietObserver
from lion_search.search.retraining import CONFIRMATION

CLI = [str(Path(sys.executable).parent / "lion-search")]
QUICK = ["--task", "quadratic", "--population", "10", "--workers", "1", "--promote-every", "0"]


def cli(*args, cwd=None, timeout=300):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


def search_evaluations(folder):
    db = sqlite3.connect(folder / "journal.sqlite")
    rows = db.execute("SELECT id, program, cached FROM evaluations WHERE kind = 'search' "
                      "ORDER BY id").fetchall()
    db.close()
    return rows


def run_search(folder, **settings):
    config = EvolveConfig(**{"task": "quadratic", "population": 10, "workers": 1,
                              "promote_every": 0, **settings})
    store = RunStore.create(folder, config.to_json())
    search = Search(store, config)
    search.setup()
    search.load()
    return store, search, search.run()


def test_a_search_meets_its_budget_and_keeps_the_population(tmp_path):
    store, search, stats = run_search(tmp_path / "run", budget=50)
    assert stats.trained == 50
    assert store.count("search", cached=False) == 50
    assert len(search.population) == 10
    summary = summarize(store)
    assert summary["evaluations"] == 50
    assert summary["best"]["fitness"] <= summary["seeds"][0]["fitness"]
    assert summary["cache_hits"] == store.count("search", cached=True)


def test_a_search_meets_its_budget_however_many_children_in_a_row_were_seen_before(
        tmp_path, monkeypatch):
    """A random walk of mutations (tournament 1) makes mostly cache hits; a pass that trained
    nothing used to end the search short of its budget (7,539 of 8,000 in a random-search run).
    With one miss a pass allowed, every cache hit while nothing is in flight is such a pass."""
    monkeypatch.setattr(generations, "MISSES_PER_PASS", 1)
    store, search, stats = run_search(tmp_path / "run", budget=40, tournament=1, batch_size=1,
                                      remutations=0)
    assert stats.trained == 40 and store.count("search", cached=True) > 0
    assert not search.stalled
    store.close()


def test_a_search_whose_children_are_all_seen_before_stops(tmp_path, monkeypatch):
    monkeypatch.setattr(generations, "STALL_AFTER", 0)
    monkeypatch.setattr(generations, "MISSES_PER_PASS", 1)
    store, search, stats = run_search(tmp_path / "run", budget=1000, tournament=1, batch_size=1)
    assert stats.trained < 1000 and search.stalled
    store.close()


def test_evolve_says_why_a_stalled_search_stopped_short(tmp_path, monkeypatch, capsys):
    from lion_search.cli import main

    monkeypatch.setattr(generations, "STALL_AFTER", 0)
    monkeypatch.setattr(generations, "MISSES_PER_PASS", 1)
    assert main(["evolve", *QUICK, "--budget", "1000", "--tournament", "1", "--batch-size", "1",
                 "--out", str(tmp_path / "run")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "stopped:" in out and "the search stopped short of its budget" in out


def test_show_json_reports_counts_best_and_seeds(tmp_path):
    out = tmp_path / "run"
    result = cli("evolve", "--budget", "30", *QUICK, "--out", str(out))
    assert result.returncode == 0, result.stderr
    shown = cli("show", str(out), "--json")
    data = json.loads(shown.stdout)
    assert data["evaluations"] == 30 and isinstance(data["evaluations"], int)
    assert isinstance(data["cache_hits"], int)
    assert set(data["best"]) >= {"id", "fitness", "program"}
    assert data["seeds"][0]["name"] == "adamw" and "fitness" in data["seeds"][0]
    assert (tmp_path / "latest").resolve() == out.resolve()


def test_a_run_killed_at_a_random_moment_resumes_without_loss_or_duplicates(tmp_path):
    out = tmp_path / "run"
    budget = 150
    # generations of 8: checkpoints (a one-worker search is deterministic) every 64 children
    process = subprocess.Popen(CLI + ["evolve", "--budget", str(budget), *QUICK, "--batch-size",
                                      "2", "--generation", "8", "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    target = random.Random().randint(10, 100)
    while time.time() < deadline:
        journal = out / "journal.sqlite"
        if journal.exists() and len(search_evaluations(out)) >= target:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = search_evaluations(out)
    assert 0 < sum(1 for *_, cached in before if not cached) < budget
    assert RunStore.open(out).state() == "interrupted"

    result = cli("evolve", "--out", str(out), "--resume")
    assert result.returncode == 0, result.stderr
    after = search_evaluations(out)
    assert after[:len(before)] == before                      # nothing evaluated was lost
    trained = [program for _, program, cached in after if not cached]
    assert len(trained) == budget                              # the budget is met exactly
    assert max(Counter(program for _, program, _ in after).values()) == 1   # no duplicate work
    assert RunStore.open(out).state() == "finished"


def test_ctrl_c_stops_cleanly_and_the_run_resumes(tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen(CLI + ["evolve", "--budget", "5000", *QUICK, "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if (out / "journal.sqlite").exists() and len(search_evaluations(out)) > 20:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "--resume" in stdout
    assert "Traceback" not in stderr
    assert RunStore.open(out).state() == "interrupted"
    result = cli("evolve", "--out", str(out), "--resume", "--budget", "60")
    assert result.returncode == 0, result.stderr


def test_a_stop_request_ends_the_loop_at_once_and_a_later_run_finishes_the_budget(tmp_path):
    config = EvolveConfig(task="quadratic", population=10, workers=1, budget=60, promote_every=0,
                          generation=4)
    store = RunStore.create(tmp_path / "run", config.to_json())
    search = Search(store, config)
    search.setup()
    search.load()
    proposed = lambda: search.trained + len(search.pending)    # noqa: E731
    polls, asked = [], []   # the children proposed at each poll; the polls that asked to stop
    committed = []    # the trained evaluations at the second checkpoint, once it is taken

    def stop():   # once a generation past the second checkpoint is filed
        polls.append(proposed())
        saved = store.value("checkpoint")
        if saved and saved["generation"] > 1 and not committed:
            committed.append(search.trained)
        if committed and search.trained > committed[0]:
            asked.append(len(polls) - 1)
        return bool(asked)

    stats = search.run(stop=stop)
    assert stats.trained == committed[0]     # what it did since its checkpoint is dropped
    first = asked[0]
    assert set(polls[first:]) == {polls[first]} and len(polls) <= first + 2   # none after it
    search = Search(store, config)
    search.load()
    assert search.run().trained == config.budget


def test_time_limit_stops_cleanly(tmp_path):
    out = tmp_path / "run"
    start = time.time()
    result = cli("evolve", "--budget", "100000", *QUICK, "--time-limit", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert time.time() - start < 60
    assert RunStore.open(out).state() == "stopped"


@pytest.mark.parametrize("args,message", [
    (["--task", "nope"], "unknown task 'nope'"),
    (["--seed-programs", "nope"], "unknown program 'nope'"),
    (["--budget", "0"], "--budget must be a positive"),
    (["--budget", "-5"], "--budget must be a positive"),
    (["--workers", "2", "--address", "127.0.0.1:1"], "cannot reach the Ray cluster"),
    (["--resume", "--out", "no_such_run"], "no run folder"),
])
def test_bad_evolve_input_is_one_line_and_non_zero(args, message, tmp_path):
    result = cli("evolve", "--task", "quadratic", "--promote-every", "0", *args, cwd=tmp_path,
                 timeout=120)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_existing_and_foreign_run_folders_are_protected(tmp_path):
    out = tmp_path / "run"
    assert cli("evolve", "--budget", "5", *QUICK, "--out", str(out)).returncode == 0
    journal = (out / "journal.sqlite").read_bytes()
    again = cli("evolve", "--budget", "5", *QUICK, "--out", str(out))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert (out / "journal.sqlite").read_bytes() == journal
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "journal.sqlite").write_text("not a database")
    for args in (["evolve", "--out", str(foreign), "--resume"], ["show", str(foreign)]):
        result = cli(*args)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert cli("evolve", "--budget", "8", *QUICK, "--out", str(out), "--force").returncode == 0


def test_a_best_meta_validated_before_is_not_trained_again(tmp_path):
    """Meta-validation every 5 evaluations: a checkpoint whose best was meta-validated at the
    one before is journaled from that result (cached), and only a new best is trained. (A
    checkpoint that comes while a meta-validation is still queued or training is skipped, so
    how many of the 20 are taken depends on the workers' timing.)"""
    # (without confirmations: each rescores the best, and a new best is validated anew)
    # (generations of 4: a meta-validation asked for while one is filed trains with the
    # generation after the next, 8 children later rather than 64 in generations of 32)
    store, search, stats = run_search(tmp_path / "run", budget=100, metaval_task="logreg",
                                      metaval_every=5, confirm_top=0, generation=4)
    rows = store.evaluations("metaval")
    assert len(rows) >= 6
    for before, row in zip(rows, rows[1:]):
        if row.program == before.program:
            assert row.cached and row.fitness == before.fitness and row.seconds == 0
        else:
            assert not row.cached
    assert not rows[0].cached and any(row.cached for row in rows)
    store.close()


def test_a_killed_ray_worker_is_replaced_and_the_budget_is_met(tmp_path):
    config = EvolveConfig(task="quadratic", population=10, workers=2, budget=80, batch_size=2,
                          promote_every=0, address="local")
    store = RunStore.create(tmp_path / "run", config.to_json())

    class KillOnce(QuietObserver):
        killed = False

        def update(self, stats):
            if not self.killed and stats.trained >= 10:
                os.kill(search.pool.pids()[0], signal.SIGKILL)
                KillOnce.killed = True

    search = Search(store, config, KillOnce())
    search.setup()
    search.load()
    stats = search.run()
    assert KillOnce.killed
    assert search.pool.replaced >= 1
    assert stats.trained == 80 == store.count("search", cached=False)
    assert max(Counter(e.program for e in store.evaluations("search")).values()) == 1


@pytest.mark.parametrize("source", ["best", "seeds"])
def test_restarts_refill_the_population_from_the_best_or_the_seeds(tmp_path, source, capsys):
    # (generations of 4 end where the restarts come, at 20 and 40 trained evaluations; the
    # generation after the one in flight then is proposed from the restarted population)
    store, search, stats = run_search(tmp_path / "run", budget=52, restart_every=20,
                                      restart_from=source, batch_size=1, generation=4)
    assert stats.trained == 52 and search.population.restarted
    after = store.value("restarts")[-1]["after"]
    assert [(r["at"], r["source"]) for r in store.value("restarts")] == [(20, source),
                                                                          (40, source)]
    main(["show", str(tmp_path / "run")])
    assert (f"restarts: 2, from the {source} after 20 trained evaluations; from the {source} "
            "after 40") in capsys.readouterr().out
    evaluations = store.evaluations("search")
    restart_time = next(e.created for e in evaluations if e.id == after)
    # (a leader's confirmation has the leader for parent, whatever the population)
    first_child = [row for row in store.programs()
                   if row.origin == "child" and row.created > restart_time
                   and not row.mutation.startswith(CONFIRMATION)][:1]
    if source == "seeds":
        allowed = {s["id"] for s in search.seeds}
    else:  # the best program when the child was proposed: a program of the fingerprint whose
        # newest fitness (over the most training seeds) was the lowest then
        prints = {row.id: row.fingerprint for row in store.programs()}
        newest = {prints[e.program]: e.fitness for e in evaluations if e.id <= after}
        best = {fp for fp, f in newest.items() if f == min(newest.values())}
        allowed = {e.program for e in evaluations if prints[e.program] in best}
    assert first_child and first_child[0].parent in allowed


PLAIN = "def p(w, g, lr, t, m):\n    m = interp(g, m, 0.9)\n    return lr * m, m\n"


@pytest.mark.parametrize("condition, promote_tasks, one_program", [
    ("rank >= 2", None, True),               # quadratic's one tensor is a vector
    ("T >= 5000", None, True),               # trained for 200 steps
    ("rank >= 3", "digits-cnn", False),      # promotion trains on the CNN's kernels
])
def test_a_search_counts_programs_that_differ_only_where_its_tasks_never_go_as_one(
        tmp_path, condition, promote_tasks, one_program):
    """Two programs that differ only on a branch no tensor of the run's tasks takes, or only
    past every task's length, train alike wherever the run trains them: one key, so one record
    and one history of seeds. With --equivalence probes (the former key, which runs journaled
    before keep) they are two."""
    plain = parse_program(PLAIN)
    branched = parse_program(PLAIN.replace("lr * m,", f"lr * where({condition}, sign(m), m),"))
    same = {}
    for equivalence in ("run", "probes"):
        config = EvolveConfig(task="quadratic", workers=1, equivalence=equivalence,
                              **({"promote_tasks": promote_tasks} if promote_tasks
                                 else {"promote_every": 0}))
        store = RunStore.create(tmp_path / equivalence, config.to_json())
        cache = Search(store, config).cache
        same[equivalence] = cache.keys(plain)[1] == cache.keys(branched)[1]
        store.close()
    assert same == {"run": one_program, "probes": False}
    journaled = {k: v for k, v in EvolveConfig().to_json().items() if k != "equivalence"}
    assert EvolveConfig.from_json(journaled).equivalence == "probes"
    with pytest.raises(LionSearchError, match="--equivalence must be one of run, probes"):
        EvolveConfig(equivalence="text").check()
