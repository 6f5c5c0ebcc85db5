"""Promotion inside the search: scores journaled, equivalents promoted once, RUN:best by it."""
import math
import sqlite3

import pytest

from lion_search.analysis.lr_check import grows_with_lr
from lion_search.evaluation.results import HURDLE_AT, Status
from lion_search.inspect.summary import summarize
from lion_search.language.errors import LionSearchError
from lion_search.language.parser import parse_program
from lion_search.runs.journal import RunStore
from lion_search.runs.references import program_in_run
from lion_search.search.config import EvolveConfig
from lion_search.search.evolution import Search
from lion_search.search.jobs import estimated_flops
from lion_search.runs.verdict import PROMOTED_SCORES
from lion_search.search.promotion import (
    TaskScore,
    promoted_score,
    stage_b_tasks,
)


def test_the_promoted_score_is_the_worst_or_the_mean_log_ratio_to_the_references():
    """By default a large win on one task does not hide a loss on another: the score is the
    worst task's log ratio, below 0 only if the program beats every reference."""
    scores = [TaskScore("a", 1.0, 0.5), TaskScore("b", 3.0, 2.2)]
    worst, mean = promoted_score(scores, [2.0, 2.0]), promoted_score(scores, [2.0, 2.0], "mean")
    assert worst == pytest.approx(math.log(1.1)) and worst > 0
    assert mean == pytest.approx((math.log(0.25) + math.log(1.1)) / 2) and mean < 0
    everywhere = promoted_score(scores, [2.0, 2.5])
    assert everywhere == pytest.approx(math.log(2.2 / 2.5)) and everywhere < 0
    for rule in PROMOTED_SCORES:
        assert promoted_score([TaskScore("a", 1.0, math.inf)], [1.0], rule) == math.inf


def test_the_promoted_score_rule_is_checked_and_old_runs_keep_the_mean():
    assert EvolveConfig().promote_score == "worst"
    with pytest.raises(LionSearchError, match="--promote-score must be one of worst, mean"):
        EvolveConfig(promote_score="median").check()
    assert EvolveConfig.from_json({"task": "quadratic"}).promote_score == "mean"
    assert EvolveConfig.from_json(EvolveConfig(task="quadratic").to_json()).promote_score \
        == "worst"


def test_a_round_is_scored_from_its_trainings_at_each_programs_best_factor():
    """A round's trainings: each pick at each factor of its task's grid; a pick scores at its
    best factor per task against the references, and a task where every factor failed scores
    the worst, with no factor."""
    import numpy as np

    from lion_search.evaluation.results import EvalResult
    from lion_search.language.library import read_program
    from lion_search.search.promotion import PromotionRound

    def result(loss):
        return EvalResult(loss, np.zeros(1), "ok" if math.isfinite(loss) else "diverged", 1.0)

    picks = [(7, read_program("lion")), (9, read_program("sgd"))]
    round_ = PromotionRound(picks, ("a", "b"), {"a": (0.5, 1.0, 2.0), "b": (1.0, 2.0, 4.0)},
                            growth=0)
    trials = round_.trials()
    assert len(trials) == 2 * 2 * 3 and {t.program_id for t, _ in trials} == {7, 9}
    assert {t.factor for t, _ in trials if t.task == "b"} == {1.0, 2.0, 4.0}
    losses = {("a", 0.5): 1.0, ("a", 1.0): 0.4, ("a", 2.0): 0.5, ("b", 1.0): 3.0,
              ("b", 2.0): 3.5, ("b", 4.0): 4.0}
    for trial, _ in trials:
        assert not round_.finished
        loss = math.inf if trial.program_id == 9 and trial.task == "a" else losses[
            trial.task, trial.factor]
        assert round_.file(trial, result(loss)) == []      # growth 0: no sweep grows
    assert round_.finished
    lion, sgd = round_.scores((1.0, 3.0))
    assert [(s.lr_factor, s.loss) for s in lion.per_task] == [(1.0, 0.4), (1.0, 3.0)]
    assert lion.score == pytest.approx(max(math.log(0.4 / 1.0), math.log(3.0 / 3.0)))
    assert lion.seconds == 6.0
    assert math.isnan(sgd.per_task[0].lr_factor) and sgd.score == math.inf
    mean = PromotionRound(picks[:1], ("a", "b"), round_.grids, rule="mean", growth=0)
    for trial, _ in mean.trials():
        mean.file(trial, result(losses[trial.task, trial.factor]))
    assert mean.scores((1.0, 4.0)) == [lion._replace(score=pytest.approx(
        (math.log(0.4) + math.log(3.0 / 4.0)) / 2))]


def test_a_sweep_grows_past_the_edge_where_its_best_lies_until_it_lies_inside():
    """Losses falling toward small lr factors: the sweep grows below its grid, one factor at a
    time once the last is in, until its best is inside (or it has grown `growth` times)."""
    import numpy as np

    from lion_search.evaluation.results import EvalResult
    from lion_search.language.library import read_program
    from lion_search.search.promotion import PromotionRound

    def loss(factor):          # best at factor 1/8
        return 1.0 + math.log(factor * 8) ** 2

    round_ = PromotionRound([(1, read_program("lion"))], ("a",), {"a": (1.0, 2.0, 4.0)},
                            step=2.0, growth=4)
    queue = [t for t, _ in round_.trials()]
    trained = []
    while queue:
        trial = queue.pop(0)
        trained.append(trial.factor)
        queue += [t for t, _ in round_.file(trial, EvalResult(loss(trial.factor), np.zeros(1),
                                                              "ok", 1.0))]
    assert trained == [1.0, 2.0, 4.0, 0.5, 0.25, 0.125, 0.0625]
    (promotion,) = round_.scores((1.0,))
    assert promotion.per_task[0].lr_factor == 0.125 and round_.finished
    capped = PromotionRound([(1, read_program("lion"))], ("a",), {"a": (1.0, 2.0, 4.0)},
                            step=2.0, growth=1)
    queue, trained = [t for t, _ in capped.trials()], []
    while queue:
        trial = queue.pop(0)
        trained.append(trial.factor)
        queue += [t for t, _ in capped.file(trial, EvalResult(loss(trial.factor), np.zeros(1),
                                                              "ok", 1.0))]
    assert trained == [1.0, 2.0, 4.0, 0.5]


def test_a_flat_sweep_does_not_grow():
    """A program that ignores lr on a task trains alike at every factor: its sweep's best is a
    tie, not an edge, so the sweep stops at its grid; a strict best at an edge still grows."""
    import numpy as np

    from lion_search.evaluation.results import EvalResult
    from lion_search.language.library import read_program
    from lion_search.search.promotion import PromotionRound

    def grown(losses):
        round_ = PromotionRound([(1, read_program("lion"))], ("a",), {"a": (1.0, 2.0, 4.0)},
                                step=2.0, growth=4)
        return [t.factor for trial, _ in round_.trials() for t, _ in
                round_.file(trial, EvalResult(losses[trial.factor], np.zeros(1), "ok", 1.0))]

    assert grown({1.0: 0.3, 2.0: 0.3, 4.0: 0.3}) == []
    assert grown({1.0: 0.5, 2.0: 0.3, 4.0: 0.3}) == []
    assert grown({1.0: 0.5, 2.0: 0.4, 4.0: 0.3}) == [8.0]
    assert grown({1.0: math.inf, 2.0: math.inf, 4.0: math.inf}) == [0.5]


def test_the_reference_is_adamw_fully_tuned_once_per_task_and_the_budgets_say_so(
        tmp_path, monkeypatch):
    from lion_search.search.promotion import budgets, tune_references

    # studies of its own: other tests tune the same reference in the session's studies
    monkeypatch.setenv("LION_SEARCH_TUNING", str(tmp_path / "studies.sqlite"))
    (tuned,) = tune_references(("rosenbrock",), (0,), trials=4)
    assert tuned.budget.tuned == ("lr", "b1", "b2", "eps", "weight_decay")
    assert tuned.budget.trials == 4 and tuned.trained == 4
    assert tune_references(("rosenbrock",), (0,), trials=4)[0].trained == 0
    fewer = budgets(32, (1 / 3, 1.0, 3.0), 2)
    assert fewer["reference"].startswith("AdamW: 32 trials x 2 seed(s) over its lr, b1, b2")
    assert fewer["candidates"].startswith("3 trials x 2 seed(s) over the lr alone")
    assert "ranked against the seed program through the same protocol" in fewer["candidates"]
    assert "fewer trials (3+) than the reference (32)" in fewer["note"]
    assert budgets(3, (1 / 3, 1.0, 3.0), 1)["note"] == ""


def test_default_promotion_tasks_are_the_funnels_stage_b():
    stage_b = ("digits-mlp-10x", "digits-cnn", "text-lm-mini")
    assert stage_b_tasks("digits-mlp") == stage_b
    assert EvolveConfig(task="quadratic", budget=2000).promotion == (stage_b, 100)
    # a long run (a huge budget stopped by a time limit) still has promotion rounds
    assert EvolveConfig(budget=1_000_000).promotion == (stage_b, 1000)
    assert EvolveConfig(budget=1_000_000).metaval[1] == 1000
    assert EvolveConfig(promote_every=0).promotion[1] == 0


@pytest.mark.parametrize("deterministic", [False, True])
def test_promotion_takes_no_more_than_its_share_of_the_training_time(tmp_path, deterministic):
    """A round is skipped while promotion has used more than --promote-share of the workers'
    time: with a tiny share, only the first round (when promotion has used nothing) runs, and
    the final one when the budget is spent. A deterministic search counts the trainings'
    estimated flops instead of their seconds (the same in every run)."""
    config = EvolveConfig(task="quadratic", budget=60, population=8, workers=1,
                          promote_every=10, promote_top=2, promote_tasks="rosenbrock",
                          promote_share=0.01, promote_trials=4, seed_programs=("adamw",),
                          confirm_top=3, generation=8, deterministic=deterministic)
    store = RunStore.create(tmp_path / "run", config.to_json())
    search = Search(store, config)
    search.setup()
    search.load()
    search.run()
    # the seed's round first, and the final one's up to 2 (those confirmed by then), where
    # rounds every 10 evaluations would promote up to 11
    assert 2 <= store.count("promoted") <= 3
    key = "promotion_flops" if deterministic else "promotion_seconds"
    assert store.value(key) > 0
    resumed = Search(store, config)
    resumed.load()
    assert resumed.promotion.work == store.value(key)
    assert resumed.search_work() == pytest.approx(search.search_work())
    store.close()


def test_a_child_cut_at_the_hurdle_counts_the_quarter_of_its_training_it_ran():
    """A deterministic search's promotion share counts children's work by what they trained:
    most children are cut at the hurdle, a quarter of the way in."""
    whole = estimated_flops(("digits-mlp",), 2)
    assert whole == 2 * estimated_flops(("digits-mlp",), 1) > 0
    assert estimated_flops(("digits-mlp",), 2, Status.HURDLE) == whole // HURDLE_AT
    assert estimated_flops(("digits-mlp",), 2, Status.DIVERGED) == whole


def test_promotions_are_journaled_with_their_references(promoted_run):
    folder, config = promoted_run
    store = RunStore.open(folder)
    promoted = store.evaluations("promoted")
    assert 2 <= len(promoted) <= 8                       # 3 rounds and a final one, <= 2 each
    assert store.count("promotion-reference") == 1        # AdamW tuned once, on rosenbrock
    (reference,) = store.value("promotion_references")
    assert reference["budget"]["trials"] == 4 and reference["budget"]["tuned"][1:] == \
        ["b1", "b2", "eps", "weight_decay"]
    assert all(e.task == "rosenbrock" for e in promoted)
    assert store.count("promotion") == len(promoted)      # one row per task per program
    summary = summarize(store)
    assert summary["promotion"]["tasks"] == ["rosenbrock"]
    assert summary["promotion"]["promoted"] == len(promoted)
    store.close()


def test_the_final_round_promotes_the_best_program_of_the_search(promoted_run):
    """The best program by proxy fitness that the search confirmed (or one equivalent to it)
    has a promoted score."""
    folder, _ = promoted_run
    store = RunStore.open(folder)
    search = Search(store, EvolveConfig.from_json(store.config))
    search.load()
    best = next(row for row, _ in store.best(100) if search.retraining.confirmed(row.fingerprint))
    promotion = search.promotion
    assert set(search.cache.keys(promotion.rewrite(best.id))) & promotion.promoted_keys
    store.close()


def test_equivalent_programs_are_promoted_once(promoted_run):
    folder, _ = promoted_run
    store = RunStore.open(folder)
    search = Search(store, EvolveConfig.from_json(store.config))
    search.load()
    rewritten = [search.promotion.rewrite(e.program) for e in store.evaluations("promoted")]
    keys = [search.cache.keys(p) for p in rewritten]
    assert len({k[0] for k in keys}) == len(keys) and len({k[1] for k in keys}) == len(keys)
    # after a resume, the promoted programs are known and not picked again
    assert not {p for p, _ in search.promotion.candidates(3)} & \
        {e.program for e in store.evaluations("promoted")}
    store.close()


def test_run_best_is_the_best_by_promoted_score(promoted_run):
    folder, _ = promoted_run
    store = RunStore.open(folder)
    best_promoted = min(store.evaluations("promoted"), key=lambda e: e.fitness)
    row, _ = program_in_run(folder, "best")
    assert row.id == best_promoted.program
    summary = summarize(store)
    assert summary["best"]["id"] == row.id and summary["best"]["by"] == "promoted score"
    assert summary["best"]["promoted"] == pytest.approx(best_promoted.fitness)
    scores = {e.program: e.fitness for e in store.evaluations("promoted")}
    for r in summary["top"]:
        assert r["was_promoted"] == (r["id"] in scores)
        if r["was_promoted"] and math.isfinite(scores[r["id"]]):
            assert r["promoted"] == pytest.approx(scores[r["id"]])
    store.close()


def test_no_child_of_a_search_ignores_lr(promoted_run):
    folder, _ = promoted_run
    db = sqlite3.connect(folder / "journal.sqlite")
    texts = [t for (t,) in db.execute("SELECT text FROM programs WHERE origin = 'child'")]
    db.close()
    assert len(texts) >= 60      # every trained child (the budget), and any cache hits
    assert all(grows_with_lr(parse_program(t)) for t in texts)



def test_the_report_plots_the_promoted_scores_beside_the_proxy(promoted_run, tmp_path):
    import shutil

    from lion_search.inspect.report.page import write_report

    folder = tmp_path / "copy"
    shutil.copytree(promoted_run[0], folder)
    store = RunStore.open(folder)
    page = write_report(store).read_text()
    store.close()
    assert (folder / "promotion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Best program by promoted score" in page and "<th>promoted</th>" in page


def test_the_funnel_takes_the_best_promoted_program_first(promoted_run):
    from lion_search.runs.references import run_best
    from lion_search.selection.funnel import candidates

    store = RunStore.open(promoted_run[0])
    entrants = candidates(store, 3)
    assert entrants[0][1] == run_best(store).id
    assert len({pid for _, pid, _ in entrants}) == len(entrants)
    store.close()


def test_show_says_when_the_candidates_got_fewer_trials_than_the_reference(promoted_run, capsys):
    from lion_search.cli.entry import main

    assert main(["show", str(promoted_run[0])]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "promotion budget per task: reference AdamW: 4 trials x 2 seed(s)" in out
    assert "candidates 3 trials x 2 seed(s) over the lr alone" in out
    assert "note: the candidates got fewer trials (3+) than the reference (4)" in out
