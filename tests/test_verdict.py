"""Never hand over something worse than the seed without saying so (runs/verdict.py): the seed
is promoted through the same protocol as the candidates and scores 0, so that the run's best is
the seed unless a candidate beat it on every promotion task; the summary says which, and an
export of a program that lost says by how much."""
import math

import pytest

from lion_search.analysis.dedup import DedupCache
from lion_search.language.library import read_program
from lion_search.runs.journal import RunStore
from lion_search.runs.references import run_best
from lion_search.runs.verdict import export_note, standing, verdict
from lion_search.search.config import EvolveConfig

SEED_LOSSES = {"digits-mlp-10x": 0.05, "text-lm-mini": 2.5}


def journal(folder, candidates: dict[str, dict[str, float]]) -> tuple[RunStore, dict[str, int]]:
    """A run journal whose seed (adamw) and `candidates` (name -> loss per task) were promoted."""
    store = RunStore.create(folder, EvolveConfig(task="quadratic").to_json())
    cache, ids = DedupCache(), {}
    for name, losses in {"adamw": SEED_LOSSES, **candidates}.items():
        program = read_program(name)
        ids[name] = store.add_program(str(program), cache.keys(program), None, "test",
                                      "seed" if name == "adamw" else "child")
        for task, loss in losses.items():
            store.add_evaluation(ids[name], kind="promotion", fitness=loss, status="ok",
                                 task=task, seeds=(10000, 10001), seconds=1.0, worker="test")
        score = max(math.log(losses[t] / SEED_LOSSES[t]) for t in SEED_LOSSES)
        store.add_evaluation(ids[name], kind="promoted", fitness=score, status="ok",
                             task=",".join(SEED_LOSSES), seeds=(10000, 10001), seconds=1.0,
                             worker="test")
    store.set_value("seeds", [{"name": "adamw", "id": ids["adamw"], "fitness": 0.0,
                               "lr_scale": 0.01, "hurdle": [math.inf]}])
    store.set_value("promotion_centres", [{"task": t, "lr_factor": 1.0, "loss": v}
                                          for t, v in SEED_LOSSES.items()])
    return store, ids


def test_when_nothing_beat_the_seed_the_run_hands_over_the_seed_and_says_so(tmp_path):
    store, ids = journal(tmp_path / "run", {
        "lion": {"digits-mlp-10x": 0.04, "text-lm-mini": 3.075},     # 23% worse on the LM
        "sgd": {"digits-mlp-10x": 0.10, "text-lm-mini": 2.4}})
    best = run_best(store)
    assert best.id == ids["adamw"]
    assert verdict(store, best) == (
        f"nothing this run found beat adamw; the closest: #{ids['lion']}, 23.0% worse on "
        "text-lm-mini; the run's best is adamw itself")
    assert export_note(store, ids["lion"]) == (
        f"#{ids['lion']} did not beat adamw in promotion: 23.0% worse on text-lm-mini")
    assert export_note(store, ids["adamw"]) is None
    store.close()


def test_a_program_that_beat_the_seed_everywhere_is_the_runs_best(tmp_path):
    store, ids = journal(tmp_path / "run", {
        "lion": {"digits-mlp-10x": 0.04, "text-lm-mini": 2.45}})
    best = run_best(store)
    assert best.id == ids["lion"]
    assert standing(store, ids["lion"]).ratio == pytest.approx(0.98)
    assert verdict(store, best) == (f"#{ids['lion']} beats adamw on every promotion task "
                                    "through the same protocol (2.0% better on its worst task, "
                                    "text-lm-mini)")
    assert export_note(store, ids["lion"]) is None
    unpromoted = store.add_program("def p(w, g, lr, t):\n    return lr * g\n",
                                   ("h", "f"), None, "test", "child")
    assert "was never promoted" in export_note(store, unpromoted)
    store.close()


def test_runs_that_did_not_promote_their_seed_have_no_verdict(tmp_path):
    store, ids = journal(tmp_path / "run", {"lion": {"digits-mlp-10x": 0.04,
                                                     "text-lm-mini": 2.45}})
    store.set_value("promotion_centres", [])
    assert verdict(store, run_best(store)) is None and export_note(store, ids["lion"]) is None
    store.close()


def test_show_and_export_say_it(tmp_path, capsys):
    from lion_search.cli.entry import main

    store, ids = journal(tmp_path / "run", {
        "lion": {"digits-mlp-10x": 0.04, "text-lm-mini": 3.075}})
    store.close()
    assert main(["show", str(tmp_path / "run")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "nothing this run found beat adamw; the closest" in out
    assert main(["export", f"{tmp_path / 'run'}:{ids['lion']}", "-o",
                 str(tmp_path / "lion_export.py")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"#{ids['lion']} did not beat adamw in promotion: 23.0% worse on text-lm-mini" in out
