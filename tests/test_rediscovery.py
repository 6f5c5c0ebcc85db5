"""`bench --rediscovery`: the gap closed, the success rule, the history read from a journal, the
settings' checks, and (slow) a tiny whole benchmark whose report agrees with its run's journal."""
import dataclasses
import json
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from lion_search.analysis.retune import Kind
from lion_search.bench.rediscovery import gap_closed, succeeds
from lion_search.bench.rediscovery_history import (
    Found,
    HistoryRow,
    Window,
    first_found,
    history,
    new_share_after,
    novelty,
    windows,
)
from lion_search.bench.rediscovery_searches import (
    PLANS,
    Plan,
    Settings,
    claim_out_folder,
    evolve_command,
    rediscovery_plan,
)
from lion_search.bench.rediscovery_tunings import TuningJob, run_tunings, tune_command
from lion_search.language.errors import LionSearchError
from lion_search.runs import journal_proposals, journal_twins
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.search.config import EvolveConfig
from lion_search.search.evolution import Search

CLI = [str(Path(sys.executable).parent / "lion-search")]
NEW, RETUNE = Kind.NEW_STRUCTURE, Kind.RETUNE


def test_gap_closed_is_the_share_of_adamw_to_muon():
    assert gap_closed(2.0, 1.0, 1.5) == pytest.approx(0.5)
    assert gap_closed(1.879, 1.675, 1.694) == pytest.approx(0.185 / 0.204)   # BENCHMARKS 15.2
    assert gap_closed(2.0, 1.0, 1.0) == 1.0 and gap_closed(2.0, 1.0, 2.0) == 0.0
    assert gap_closed(2.0, 1.0, 2.5) == pytest.approx(-0.5)      # worse than AdamW
    assert gap_closed(2.0, 1.0, 0.5) == pytest.approx(1.5)       # better than Muon
    assert gap_closed(2.0, 1.0, math.inf) == -math.inf           # its training failed
    assert math.isnan(gap_closed(1.0, 1.0, 0.5))                 # Muon does not beat AdamW
    assert math.isnan(gap_closed(1.0, 2.0, 0.5))


def test_a_success_is_new_structure_as_found_and_simplified_closing_half_the_gap():
    assert succeeds(NEW, NEW, 0.5) and succeeds(NEW, NEW, 0.91)
    assert not succeeds(NEW, NEW, 0.49)
    assert not succeeds(NEW, RETUNE, 0.9)      # simplified to a retune
    assert not succeeds(RETUNE, NEW, 0.9)      # a seed that ablation alone changed
    assert not succeeds(NEW, NEW, math.nan)


def row(kind: str, cached: bool, fingerprint: str, created: float = 0.0) -> HistoryRow:
    return HistoryRow(EvalKind(kind), cached, fingerprint, created)


# the seed "s", then children: a, a (hit), b, s (re-evaluated: trained, not new), b (hit), c
HISTORY = [row("seed", False, "s", 100.0), row("search", False, "a", 101.0),
           row("search", True, "a", 102.0), row("search", False, "b", 103.0),
           row("search", False, "s", 104.0), row("search", True, "b", 105.0),
           row("search", False, "c", 160.0)]


def test_new_programs_are_trained_fingerprints_not_evaluated_before():
    assert [new for _, new in novelty(HISTORY)] == [True, False, True, False, False, True]


def test_a_parent_trained_again_is_no_proposal_and_passed_over_mutants_count():
    history = [row("seed", False, "s"), HistoryRow(EvalKind.SEARCH, False, "a", 1.0, True, 3),
               HistoryRow(EvalKind.SEARCH, False, "a", 2.0, False, 0),
               HistoryRow(EvalKind.SEARCH, False, "b", 3.0, True, 1)]
    assert [new for _, new in novelty(history)] == [True, True]
    (window,) = windows(history, 10)
    assert window == Window(0, 2, 0, 2, 4) and window.equivalent_share == pytest.approx(4 / 6)
    assert new_share_after(history, 2) == 1.0      # after a and its re-evaluation: b, new


def test_cache_hits_in_windows_of_proposals():
    assert windows(HISTORY, 4) == (Window(0, 4, 1, 2), Window(4, 2, 1, 1))
    assert windows(HISTORY, 4)[0].hit_rate == 0.25 and windows(HISTORY, 4)[1].new_share == 0.5
    assert windows(HISTORY[:1], 4) == ()


def test_the_new_share_after_the_first_trained_evaluations():
    # after the 2nd trained child (b): s (re-evaluated), b (hit), c (new)
    assert new_share_after(HISTORY, 2) == pytest.approx(1 / 3)
    assert new_share_after(HISTORY, 0) == pytest.approx(3 / 6)
    assert math.isnan(new_share_after(HISTORY, 4))


def test_when_a_fingerprint_was_first_trained():
    assert first_found(HISTORY, "c") == Found(4, 60.0)     # the 4th trained child, 60 s in
    assert first_found(HISTORY, "b") == Found(2, 3.0)
    assert first_found(HISTORY, "s") == Found(0, 0.0)      # a seed program's own
    assert first_found(HISTORY, "zz") is None


def test_the_history_is_the_journals_seed_and_search_evaluations(tmp_path):
    config = EvolveConfig(task="quadratic", population=10, workers=1, promote_every=0,
                          budget=30, held_back_seeds=())
    store = RunStore.create(tmp_path / "run", config.to_json())
    search = Search(store, config)
    search.setup()
    search.load()
    search.run()
    rows = history(store)
    searched = store.evaluations(EvalKind.SEARCH)
    assert [r.kind for r in rows] == [EvalKind.SEED] + [EvalKind.SEARCH] * len(searched)
    assert [r.cached for r in rows[1:]] == [e.cached for e in searched]
    assert [r.fingerprint for r in rows[1:]] == [store.program(e.program).fingerprint
                                                 for e in searched]
    assert sum(not r.cached for r in rows[1:]) == 30
    assert first_found(rows, rows[0].fingerprint).trained == 0
    # A new program said to be the seed's twin (it trained as the seed did): no longer new.
    marked = dict(novelty(rows))
    first_new = next(i for i, row in enumerate(rows) if marked.get(row))
    twin = rows[first_new].fingerprint
    journal_twins.add_twin(store, twin, {twin: rows[0].fingerprint})
    again = history(store)
    assert again[first_new].fingerprint == rows[0].fingerprint
    assert not dict(novelty(again))[again[first_new]]
    store.close()


def test_plans_and_settings_are_checked_in_one_line():
    assert rediscovery_plan("text-lm-micro") == Plan("text-lm-micro", "text-lm-mini", "text-lm-10x")
    assert rediscovery_plan("digits-mlp-b512").test_task == "digits-mlp-10x"
    assert rediscovery_plan("text-lm-micro", test_task="text-lm").test_task == "text-lm"
    assert rediscovery_plan("quadratic", test_task="logreg") == Plan("quadratic", "auto", "logreg")
    with pytest.raises(LionSearchError, match="needs --test-task"):
        rediscovery_plan("quadratic")
    with pytest.raises(LionSearchError, match="unknown task"):
        rediscovery_plan("quadratic", test_task="nope")
    for bad, message in (({"searches": 0}, "--searches"), ({"cpu_limit": 0.0}, "--cpu-limit"),
                         ({"cpu_limit": math.nan}, "--cpu-limit"),
                         ({"parallel": 0}, "--parallel"), ({"trials": 0}, "--trials")):
        with pytest.raises(LionSearchError, match=message):
            Settings(PLANS["text-lm-micro"], **bad).check()


def test_an_out_folder_searched_otherwise_is_refused(tmp_path):
    settings = Settings(PLANS["text-lm-micro"], searches=2, cpu_limit=60.0)
    claim_out_folder(tmp_path, settings)
    # more seeds, or another tuning, report on the same searches
    claim_out_folder(tmp_path, dataclasses.replace(settings, searches=4, trials=2))
    with pytest.raises(LionSearchError, match=r"cpu_limit 60.0 \(now 120.0\)"):
        claim_out_folder(tmp_path, dataclasses.replace(settings, cpu_limit=120.0))


def test_search_arguments_go_to_every_search_and_into_what_a_folder_holds(tmp_path):
    """The settings under test reach each search's command; a folder searched without them is
    not reused for a benchmark with them, and one from before they existed still is."""
    plain = Settings(PLANS["text-lm-micro"], searches=2, cpu_limit=60.0)
    restarts = dataclasses.replace(plain, search_args=("--restart-plateau", "3000"))
    command = evolve_command(restarts, 2, tmp_path / "seed-2")
    assert command[command.index("evolve") + 1:][:2] == ["--restart-plateau", "3000"]
    # a setting the benchmark sets comes after them, so that its value wins
    overriding = evolve_command(dataclasses.replace(plain, search_args=("--workers", "2")), 2,
                                tmp_path / "seed-2")
    last = len(overriding) - 1 - overriding[::-1].index("--workers")
    assert overriding[last + 1] == "1"
    assert "search_args" not in plain.searched()
    claim_out_folder(tmp_path / "plain", plain)
    with pytest.raises(LionSearchError, match=r"search_args None \(now \['--restart-plateau'"):
        claim_out_folder(tmp_path / "plain", restarts)


@pytest.mark.slow
def test_a_tiny_benchmark_reports_what_its_journal_holds(tmp_path):
    """One search of 10 CPU seconds on quadratic, promoted to rosenbrock, tested on logreg with
    2 trials a side; then the same command again reports without searching."""
    out = tmp_path / "bench"
    command = [*CLI, "bench", "--rediscovery", "--proxy", "quadratic", "--promote-tasks",
               "rosenbrock", "--test-task", "logreg", "--searches", "1", "--cpu-limit", "10",
               "--trials", "2", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "rediscovery.json").read_text())
    assert (out / "rediscovery.md").read_text().count("| 1 | #") == 1
    seed, = report["seeds"]
    adamw, muon = report["baselines"]["adamw"], report["baselines"]["target"]
    assert seed["gap_closed"] == pytest.approx(gap_closed(adamw["loss"], muon["loss"],
                                                          seed["tuned"]["loss"]), nan_ok=True)
    assert seed["gap_closed_per_seed"] == pytest.approx(
        [gap_closed(*x) for x in zip(adamw["per_seed"], muon["per_seed"],
                                     seed["tuned"]["per_seed"])], nan_ok=True)
    assert report["successes"] == int(seed["success"]) and report["searches"] == 1
    # the tunings ran as `lion-search tune` processes; the report read their studies
    assert adamw["trained"] == muon["trained"] == seed["tuned"]["trained"] == 0
    assert "val loss" in (out / "tune-seed-1.log").read_text()
    assert seed["process"]["exit_code"] == 0 and seed["process"]["cpu_seconds"] >= 10

    store = RunStore.open(out / "seed-1")
    try:
        assert store.state() == "stopped"
        searched = store.evaluations(EvalKind.SEARCH)
        trained = [e for e in searched if not e.cached]
        proposed = journal_proposals.proposed(store)
        mutants = [e for e in searched if proposed[e.program][2]]
        assert seed["trained"] == len(trained) > 0 and seed["proposals"] == len(mutants)
        assert sum(w["proposals"] for w in seed["windows"]) == len(mutants)
        assert sum(w["hits"] for w in seed["windows"]) == sum(e.cached for e in mutants)
        assert sum(w["equivalents"] for w in seed["windows"]) == sum(
            proposed[e.program][1] for e in mutants)
        best = store.program(seed["best"]).fingerprint
        seeds = {store.program(e.program).fingerprint for e in store.evaluations(EvalKind.SEED)}
        first = 0 if best in seeds else next(
            i for i, e in enumerate(trained, 1) if store.program(e.program).fingerprint == best)
        assert seed["found"]["trained"] == first
        assert (out / "simplified-1.py").read_text().splitlines()[1:] == \
            seed["program"].splitlines()
        assert store.simplified(seed["best"]) is not None      # simplify saved it in the run
    finally:
        store.close()

    journal = (out / "seed-1" / "journal.sqlite").stat().st_mtime_ns
    again = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr
    assert (out / "seed-1" / "journal.sqlite").stat().st_mtime_ns == journal
    seed_again, = json.loads((out / "rediscovery.json").read_text())["seeds"]
    assert seed_again["tuned"].pop("trained") == 0       # its tuning study was reused
    seed["tuned"].pop("trained")
    assert json.dumps(seed_again) == json.dumps(seed)


def test_bad_rediscovery_input_is_one_line(tmp_path):
    for args, message in ((["--proxy", "quadratic"], "needs --test-task"),
                          (["--searches", "0"], "--searches must be at least 1"),
                          (["--cpu-limit", "-1"], "--cpu-limit must be a positive"),
                          (["--search-args=--islands x"], ("--search-args '--islands x' are "
                           "not arguments of lion-search evolve: argument --islands: invalid int")),
                          (["--search-args=--rng 3 --cpu=9"], ("may not set --rng-seed, "
                                                               "--cpu-limit: the benchmark")),
                          (["--search-args=--out x"], "may not set --out")):
        result = subprocess.run([*CLI, "bench", "--rediscovery", *args, "--out",
                                 str(tmp_path / "b")], capture_output=True, text=True,
                                timeout=120, check=False, env={**os.environ})
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and message in lines[0], \
            result.stderr
    assert not (tmp_path / "b").exists()


def test_a_tuning_that_fails_is_named_with_its_log_and_the_others_still_run(tmp_path):
    jobs = [TuningJob("broken", str(tmp_path / "missing.py"), None),
            TuningJob("adamw", "adamw", 2)]
    assert tune_command(jobs[1], "quadratic", 1, (0, 3))[-10:] == [
        "tune", "adamw", "--task", "quadratic", "--trials", "1", "--seeds", "0,3",
        "--tune-constants", "2"]
    with pytest.raises(LionSearchError, match=rf"tuning\(s\) failed: broken \(see {tmp_path}"
                                              r"/tune-broken.log\)$"):
        run_tunings(jobs, "quadratic", 1, (0,), 2, tmp_path, lambda msg: None)
    assert "val loss" in (tmp_path / "tune-adamw.log").read_text()


def test_the_report_s_command_carries_the_search_arguments():
    from lion_search.bench.rediscovery import command_line
    from lion_search.cli.bench_rediscovery import evolve_arguments

    restarts = Settings(PLANS["text-lm-micro"], search_args=("--restart-plateau", "3000"))
    words = shlex.split(command_line(restarts, Path("out")))
    given, = [w.removeprefix("--search-args=") for w in words if w.startswith("--search-args=")]
    assert evolve_arguments(given) == restarts.search_args
    plain = shlex.split(command_line(Settings(PLANS["text-lm-micro"]), Path("out")))
    assert not any(w.startswith("--search-args") for w in plain)
