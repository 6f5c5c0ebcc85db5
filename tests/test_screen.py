"""A screen before promotion: a round's leaders ranked on cheap tasks, the best of them promoted."""
import math

import pytest

from lion_search.language.errors import LionSearchError
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.runs.transfer import transfer
from lion_search.search.config import EvolveConfig
from lion_search.search.evolution import Search
from tests.conftest import finished_search
from tests.test_transfer import promoted_store

# (100 trainings: on quadratic most mutants diverge, and 60 gave the screen too few leaders)
SCREENED = {"task": "quadratic", "budget": 100, "population": 8, "workers": 1,
            "promote_every": 20, "promote_top": 2, "promote_tasks": "rosenbrock",
            "promote_trials": 4, "seed_programs": ("adamw", "sgd"), "confirm_top": 6,
            "screen_tasks": "logreg", "screen_top": 4}


@pytest.fixture(scope="module")
def screened_run(tmp_path_factory):
    config = EvolveConfig(**SCREENED)
    return finished_search(tmp_path_factory.mktemp("screened") / "run", config), config


def rounds(store: RunStore) -> list[list]:
    """The screen's rows, one list per round (a round's rows are journaled one after another)."""
    groups: list[list] = []
    for e in store.evaluations(EvalKind.SCREENED):
        if groups and e.id == groups[-1][-1].id + 1:
            groups[-1].append(e)
        else:
            groups.append([e])
    return groups


def test_each_round_promotes_the_best_of_its_screened_leaders(screened_run):
    folder, config = screened_run
    store = RunStore.open(folder)
    promoted = {e.program for e in store.evaluations(EvalKind.PROMOTED)}
    screen_rounds = rounds(store)
    assert screen_rounds, "a run with a screen and enough leaders screens some"
    for group in screen_rounds:
        assert config.promote_top < len(group) <= config.screen_top
        assert {e.task for e in group} == {"logreg"}
        kept = {e.program for e in group if e.program in promoted}
        assert len(kept) == config.promote_top
        worst_kept = max(e.fitness for e in group if e.program in kept)
        assert all(e.fitness >= worst_kept for e in group if e.program not in kept)
    # the seed's sweep gave the screen task's centre as it gave the promotion tasks'
    assert [c["task"] for c in store.value("screen_centres")] == ["logreg"]
    assert [c["task"] for c in store.value("promotion_centres")] == ["rosenbrock"]
    store.close()


def test_no_program_is_screened_twice_and_a_resumed_run_knows_the_screened(screened_run):
    folder, config = screened_run
    store = RunStore.open(folder)
    screened = [e.program for e in store.evaluations(EvalKind.SCREENED)]
    assert len(screened) == len(set(screened))
    resumed = Search(store, config)
    resumed.load()
    for pid in screened:
        keys = resumed.promotion.promotion_keys(resumed.promotion.rewrite(pid))
        assert set(keys) <= resumed.promotion.promoted_keys
    assert resumed.promotion.screen_centres
    store.close()


def test_the_transfer_reports_the_screens_rank_agreement(tmp_path):
    """Over the promoted programs that were screened (the seed was not), Kendall's tau between
    screen score and promoted score, beside the proxy's."""
    store = promoted_store(tmp_path / "run", [(0.1, 0.3), (0.2, -0.1), (0.3, 0.2), (0.4, 0.0)])
    ids = [e.program for e in store.evaluations(EvalKind.PROMOTED)]
    for pid, screen in zip(ids[1:], (-0.2, -0.1, -0.3)):
        store.add_evaluation(pid, kind=EvalKind.SCREENED, fitness=screen, status="ok",
                             task="logreg", seeds=(0,), seconds=0.0, worker="promotion")
    now = transfer(store)
    assert now.screened == 3 and math.isnan(now.points[0].screen)
    # screen -0.3 -> score 0.0, -0.2 -> -0.1, -0.1 -> 0.2: one discordant pair of three
    assert now.screen_tau == pytest.approx(1 / 3)
    assert "+0.33 between screen score and promoted score over 3" in now.describe()
    assert now.to_json()["screen_tau"] == pytest.approx(1 / 3)
    assert [p["screen"] for p in now.to_json()["points"]] == [None, -0.2, -0.1, -0.3]
    assert math.isnan(transfer(promoted_store(tmp_path / "plain", [(0.1, 0.3), (0.2, 0.1)]))
                      .screen_tau)
    store.close()


def test_a_screen_needs_tasks_of_its_own_and_more_leaders_than_it_promotes():
    with pytest.raises(LionSearchError, match="--screen-tasks must be tasks the search neither"):
        EvolveConfig(**{**SCREENED, "screen_tasks": "quadratic"}).check()
    with pytest.raises(LionSearchError, match="--screen-tasks must be tasks the search neither"):
        EvolveConfig(**{**SCREENED, "screen_tasks": "rosenbrock,logreg"}).check()
    with pytest.raises(LionSearchError, match="--screen-top must be more than --promote-top"):
        EvolveConfig(**{**SCREENED, "screen_top": 2}).check()
    assert EvolveConfig().screening == ()
    assert EvolveConfig(screen_tasks="digits").screening == ("digits-mlp", "digits-cnn-mini")


def test_show_says_what_the_screen_trained_on(screened_run, capsys):
    from lion_search.cli import main

    folder, _ = screened_run
    main(["show", str(folder)])
    out = capsys.readouterr().out
    store = RunStore.open(folder)
    count = store.count(EvalKind.SCREENED)
    store.close()
    assert f"screen: {count} leader(s) trained on logreg first" in out
