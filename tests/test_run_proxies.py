"""`bench --proxies --run RUN`: each candidate proxy ranked against a run's own promotion."""
import math

import pytest

from lion_search.bench import run_proxies
from lion_search.bench.proxies import Proxy
from lion_search.bench.trainings import TaskRef
from lion_search.cli import main
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.runs.transfer import transfer
from lion_search.search.config import EvolveConfig
from tests.conftest import finished_search


def test_the_targets_are_what_the_runs_promotion_measured(promoted_run):
    folder, _ = promoted_run
    targets = run_proxies.read_promoted(folder)
    store = RunStore.open(folder)
    promoted = {f"#{e.program}": e.fitness for e in store.evaluations(EvalKind.PROMOTED)}
    losses = {f"#{e.program}": e.fitness for e in store.evaluations(EvalKind.PROMOTION)}
    store.close()
    assert targets.scores == promoted and len(promoted) >= 3
    assert targets.tasks == ("rosenbrock",) and targets.proxy == "quadratic"
    assert {n: per["rosenbrock"] for n, per in targets.losses.items()} == losses
    assert set(targets.programs) == set(promoted) == set(targets.fitness)


def test_each_proxy_is_ranked_against_the_promoted_score_on_seeds_the_run_never_used(
        promoted_run):
    folder, _ = promoted_run
    targets = run_proxies.read_promoted(folder)
    candidates = [Proxy("quadratic", (TaskRef("quadratic"),)),
                  Proxy("logreg", (TaskRef("logreg"),))]
    rows = run_proxies.rank_against_run(targets, 2, candidates=candidates)
    assert rows[0].name == run_proxies.JOURNALED
    assert {r.name for r in rows[1:]} == {"quadratic", "logreg"}
    store = RunStore.open(folder)
    in_run = transfer(store).tau
    config = EvolveConfig.from_json(store.config)
    store.close()
    assert rows[0].tau_score == pytest.approx(in_run, nan_ok=True)   # the in-run transfer
    assert all(r.seconds > 0 and not math.isnan(r.tau_score) for r in rows[1:])
    assert set(run_proxies.RUN_SEEDS).isdisjoint(range(config.seed_pool))
    assert set(run_proxies.RUN_SEEDS).isdisjoint(config.promote_seeds)


def test_a_run_that_promoted_too_few_is_refused_in_one_line(tmp_path, capsys):
    folder = tmp_path / "run"
    finished_search(folder, EvolveConfig(task="quadratic", budget=20, population=8, workers=1,
                                         promote_every=0, seed_programs=("adamw",)))
    assert main(["bench", "--proxies", "--run", str(folder)]) != 0
    err = capsys.readouterr().err
    assert "promoted" in err and "ranking needs 3 or more" in err


def test_run_takes_no_corpus_or_targets(promoted_run, capsys):
    assert main(["bench", "--proxies", "--run", str(promoted_run[0]), "--targets"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "takes no --targets, --corpus or --targets-file" in err
