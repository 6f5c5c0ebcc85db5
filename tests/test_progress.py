"""Search power: a run's best promoted score against its trained evaluations, and `progress`,
which sets groups of runs (evolution, random search) side by side at equal budgets."""
import math

import pytest

from lion_search.cli import main
from lion_search.inspect import progress
from lion_search.runs.journal import RunStore
from lion_search.search.config import EvolveConfig
from lion_search.search.promotion import tune_references
from tests.conftest import finished_search


def journal(folder, events, **config):
    """A run journal from events: "s" a trained search evaluation, "c" a cache hit, a number
    a promoted score."""
    store = RunStore.create(folder, EvolveConfig(task="quadratic", budget=10, **config).to_json())
    for i, event in enumerate(events):
        pid = store.add_program(f"def p{i}(w, g, lr, t):\n    return lr * g\n",
                                (f"h{i}", f"f{i}"), None, "test", "child")
        if event in ("s", "c"):
            store.add_evaluation(pid, kind="search", fitness=1.0, status="ok", cached=event == "c",
                                 task="quadratic", seeds=(0,), seconds=0.1, worker="t")
        else:
            store.add_evaluation(pid, kind="promoted", fitness=event,
                                 status="ok" if math.isfinite(event) else "failed",
                                 task="rosenbrock", seeds=(0,), seconds=0.1, worker="promotion")
    return store


def test_the_best_promoted_score_is_a_running_minimum_over_trained_evaluations(tmp_path):
    store = journal(tmp_path / "run", ["s", "s", 0.3, "c", "s", math.inf, 0.5, "s", -0.2, "s"])
    run = progress.run_progress(store)
    store.close()
    assert [(p.trained, p.best) for p in run.points] == [(2, 0.3), (3, 0.3), (3, 0.3), (4, -0.2)]
    assert run.trained == 5                       # cache hits are free
    assert run.best_at(1) == math.inf and run.best_at(2) == 0.3 and run.best_at(5) == -0.2
    assert [(p.trained, p.best) for p in run.proxy] == [(1, 1.0)]     # every child scored 1.0
    assert run.best_at(5, progress.Measure.PROXY) == 1.0


def test_a_group_gives_the_mean_and_spread_over_its_runs(tmp_path):
    runs = []
    for i, score in enumerate([0.1, 0.3, -0.1]):
        store = journal(tmp_path / f"r{i}", ["s", "s", 0.5, "s", score])
        runs.append(progress.run_progress(store))
        store.close()
    assert progress.common_budget(runs) == 3
    summary = progress.summarize_group("evolution", runs, progress.checkpoints(3, 3))
    assert summary.budgets == (1, 2, 3)
    assert summary.mean[0] == math.inf                 # nothing promoted after 1 evaluation
    assert summary.mean[1:] == pytest.approx((0.5, 0.1))
    assert summary.std[1:] == pytest.approx((0.0, 0.2))   # ddof 1 over the three runs
    assert summary.below_zero == 1
    alone = progress.summarize_group("one run", runs[:1], (3,))
    assert alone.mean == (0.1,) and math.isnan(alone.std[0])     # no spread from one run


@pytest.fixture(scope="module")
def groups(tmp_path_factory):
    """Two real searches per mode on the quadratic task, promoted to rosenbrock: evolution,
    and random search (tournament 1: parents drawn without regard to fitness)."""
    root = tmp_path_factory.mktemp("progress")
    base = dict(task="quadratic", budget=24, population=8, workers=1, promote_every=8,
                promote_top=2, promote_tasks="rosenbrock", promote_share=1.0, promote_trials=4)
    tune_references(("rosenbrock",), (0,), 4)
    modes = {"evolution": {}, "random": {"tournament": 1, "promoted_seed": "off"}}
    return {mode: [str(finished_search(root / f"{mode}{seed}",
                                       EvolveConfig(**base, **extra, rng_seed=seed)))
                   for seed in (1, 2)]
            for mode, extra in modes.items()}


def test_progress_compares_groups_at_equal_budgets(groups, tmp_path, capsys):
    plot = tmp_path / "power.png"
    argv = ["progress", *(f"{m}={','.join(r)}" for m, r in groups.items()),
            "--plot", str(plot), "--markdown"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("| evolution | 2 |") == 2 and out.count("| random | 2 |") == 2
    assert "| best promoted score | runs |" in out and "| best proxy fitness | runs |" in out
    assert "up to 24," in out.replace("\n", " ")
    assert plot.stat().st_size > 10_000


def test_progress_refuses_runs_whose_scores_differ_in_meaning(groups, tmp_path, capsys):
    other = journal(tmp_path / "other", ["s", 0.1], promote_tasks="logreg")
    other.close()
    assert main(["progress", f"a={groups['evolution'][0]}", f"b={tmp_path / 'other'}",
                 "--plot", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "not comparable" in err and "logreg" in err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("specs, message", [(["a=", "b=r"], "NAME=RUN,RUN"),
                                            (["a=r1", "a=r2"], "given twice")])
def test_bad_groups_get_one_line(specs, message, capsys):
    assert main(["progress", *specs]) == 2
    assert message in capsys.readouterr().err
