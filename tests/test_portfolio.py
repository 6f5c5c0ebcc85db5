"""Portfolio fitness: task lists and named portfolios, the mean log ratio, and a search on one."""
import json
import math

import numpy as np
import pytest

import lion_search
from lion_search.evaluation.calibrate import calibrate
from lion_search.evaluation.fitness import Evaluator
from lion_search.evaluation.portfolio import (
    MIN_RATIO,
    REFERENCE_PROGRAM,
    PortfolioEvaluator,
    log_ratio_fitness,
    portfolios,
    resolve_tasks,
)
from lion_search.evaluation.results import EvalResult
from lion_search.evaluation.tasks import get_task
from lion_search.inspect.summary import summarize
from lion_search.language.errors import LionSearchError, TaskError
from lion_search.language.lr_scale import scale_lr
from lion_search.runs.journal import RunStore
from lion_search.runs.references import load_program
from lion_search.search.config import EvolveConfig

TASKS = ("quadratic", "logreg")


def result(per_seed, status="ok"):
    return EvalResult(float(np.mean(per_seed)), np.zeros(3), status, 0.1, tuple(per_seed))


def test_task_lists_and_named_portfolios_resolve():
    assert resolve_tasks("digits-mlp") == ("digits-mlp",)
    assert resolve_tasks("digits-mlp, text-lm") == ("digits-mlp", "text-lm")
    assert resolve_tasks("mix") == portfolios()["mix"]
    assert len(portfolios()["mix"]) >= 3
    for tasks in portfolios().values():
        assert resolve_tasks(",".join(tasks)) == tasks


@pytest.mark.parametrize("spec,message", [
    ("digits-mlp,nope", "unknown task 'nope'"),
    ("quadratic,quadratic", "names a task twice"),
])
def test_bad_task_lists_are_one_clear_error(spec, message):
    with pytest.raises(TaskError, match=message) as err:
        resolve_tasks(spec)
    assert "\n" not in str(err.value)


def test_fitness_is_the_mean_log_ratio_over_tasks_and_seeds():
    per_task = [result([2.0, 4.0]), result([0.5, 0.5])]
    fitness, per_seed = log_ratio_fitness(per_task, [2.0, 1.0])
    expected = np.mean([math.log(1.0), math.log(2.0), math.log(0.5), math.log(0.5)])
    assert fitness == pytest.approx(expected)
    assert per_seed == pytest.approx((np.mean([0.0, math.log(0.5)]),
                                      np.mean([math.log(2.0), math.log(0.5)])))
    # a loss scale 1000x larger on one task does not change anything relative
    scaled = [result([2000.0, 4000.0]), result([0.5, 0.5])]
    assert log_ratio_fitness(scaled, [2000.0, 1.0])[0] == pytest.approx(expected)
    assert log_ratio_fitness([result([1.0]), result([math.inf], "diverged")],
                             [1.0, 1.0])[0] == math.inf


def test_the_tuned_reference_itself_scores_zero_and_a_failure_stops_early():
    references = [calibrate(load_program(REFERENCE_PROGRAM),
                            Evaluator(get_task(t, "warmup_cosine"), (0, 1)), (0.01, 0.1, 1.0))
                  for t in TASKS]
    evaluator = PortfolioEvaluator(TASKS, "warmup_cosine", (0, 1),
                                   [c.result.fitness for c in references])
    adamw = load_program("adamw")
    tuned = [scale_lr(adamw, c.scale) for c in references]
    # AdamW at each task's own tuned lr ties the reference there (ratio 1, log 0)
    for i, program in enumerate(tuned):
        scored = evaluator.evaluate(program)
        assert len(scored.per_task) == 2
        assert scored.per_task[i].fitness == pytest.approx(references[i].result.fitness,
                                                           rel=1e-6)
    diverging = scale_lr(adamw, 1e6)
    failed = evaluator.evaluate(diverging)
    assert failed.fitness == math.inf and failed.status != "ok"
    assert len(failed.per_task) == 1      # not trained on the second task


def test_one_task_keeps_the_plain_validation_loss():
    evaluator = PortfolioEvaluator(("quadratic",), "warmup_cosine", (0,))
    assert not evaluator.relative
    plain = lion_search.evaluate(load_program("adamw"), task="quadratic")[0]
    assert evaluator.evaluate(load_program("adamw")).fitness == pytest.approx(plain.fitness)


def test_a_search_on_a_portfolio_journals_its_references_and_shows_them(tmp_path):
    folder = lion_search.evolve(out=tmp_path / "run", task=",".join(TASKS), budget=30,
                                population=8, workers=1, promote_every=0)
    store = RunStore.open(folder)
    summary = summarize(store)
    assert [r["task"] for r in summary["references"]] == list(TASKS)
    assert store.count("reference") == 2
    references = [r["fitness"] for r in summary["references"]]
    assert all(r > 0 for r in references)
    # the seed was calibrated on the portfolio: its fitness is a mean log ratio, near 0
    assert abs(summary["seeds"][0]["fitness"]) < 1.0
    assert store.state() == "finished" and summary["evaluations"] == 30
    assert summary["best"]["fitness"] <= summary["seeds"][0]["fitness"]
    store.close()


def test_evolve_rejects_unknown_settings_in_one_line(tmp_path):
    with pytest.raises(LionSearchError, match="unknown search setting.*budgt") as err:
        lion_search.evolve(out=tmp_path / "run", budgt=5)
    assert "\n" not in str(err.value)


def test_a_portfolio_config_round_trips_through_the_journal():
    config = EvolveConfig(task="mix", promote_grid=(0.5, 1.0))
    again = EvolveConfig.from_json(json.loads(json.dumps(config.to_json())))
    assert again == config and again.tasks == portfolios()["mix"]


def test_a_stopped_portfolio_search_resumes_with_its_references(tmp_path):
    from lion_search.search.evolution import Search

    config = EvolveConfig(task=",".join(TASKS), budget=40, population=8, workers=1,
                          promote_every=0)
    store = RunStore.create(tmp_path / "run", config.to_json())
    search = Search(store, config)
    search.setup()
    search.load()
    polls = []
    assert search.run(stop=lambda: polls.append(1) or len(polls) > 2).trained < config.budget
    references = search.references
    resumed = Search(store, EvolveConfig.from_json(store.config))
    resumed.load()
    assert resumed.references == references and len(resumed.hurdles()) == 2
    assert resumed.run().trained == config.budget
    assert store.count("reference") == 2          # swept once, not again on resume
    store.close()


def test_a_loss_of_zero_counts_as_the_largest_gain_not_an_error():
    solved = EvalResult(0.0, np.zeros(3), "ok", 0.0, (0.0, 2e-9))
    fitness, per_seed = log_ratio_fitness((solved,), (1e-8,))
    assert per_seed == pytest.approx((math.log(MIN_RATIO), math.log(0.2)))
    assert fitness == pytest.approx(np.mean(per_seed))
