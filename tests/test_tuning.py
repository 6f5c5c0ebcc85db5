"""Tuning on Optuna: budgets stated, studies reused, tuned programs that train as reported."""
import math

import pytest

from lion_search.cli.entry import main
from lion_search.evaluation.fitness import Evaluator
from lion_search.evaluation.lr_sweep import sweep
from lion_search.evaluation.tasks import get_task
from lion_search.evaluation.tuning import (LR_RANGE, Screening, TuneSpec, TuningKind,
                                           declaration_for, most_sensitive, program_file_text,
                                           start_lrs, tune)
from lion_search.language.errors import LionSearchError
from lion_search.language.hyperparams import hyperparameters, substitute
from lion_search.language.library import read_program, read_program_file
from lion_search.language.lr_scale import scale_lr
from lion_search.language.parser import parse_program

TASK = get_task("quadratic")
ADAMW = read_program("adamw")


@pytest.fixture(autouse=True)
def studies(tmp_path, monkeypatch):
    """Each test starts from an empty study file."""
    monkeypatch.setenv("LION_SEARCH_TUNING", str(tmp_path / "studies.sqlite"))


def trained_loss(program, lr, seeds):
    return Evaluator(TASK, seeds).evaluate_many([program], lr_scale=lr)[0]


def test_a_tuning_states_its_budget_and_its_best_setting_trains_as_reported():
    tuned = tune(ADAMW, TASK, (0, 1), TuneSpec(trials=6))
    assert tuned.budget.kind is TuningKind.TPE
    assert tuned.budget.tuned == ("lr", "b1", "b2", "eps", "weight_decay")
    assert (tuned.budget.trials, tuned.budget.runs, tuned.trained) == (6, 12, 12)
    assert tuned.budget.describe() == \
        "6 trials x 2 seeds over lr, b1, b2, eps, weight_decay (12 runs)"
    assert len(tuned.comparison.sweep) == 6
    assert LR_RANGE[0] <= tuned.lr <= LR_RANGE[1]
    assert tuned.fitness == min(loss for _, loss in tuned.comparison.sweep)
    assert tuned.program == substitute(ADAMW, tuned.values)
    again = trained_loss(tuned.program, tuned.lr, (0, 1))
    assert again.fitness == pytest.approx(tuned.fitness, rel=1e-6)
    assert again.per_seed == pytest.approx(tuned.comparison.result.per_seed, rel=1e-6)
    assert tuned.comparison.spread == pytest.approx(abs(again.per_seed[0] - again.per_seed[1]) / 2)


def test_the_first_trials_are_an_lr_grid_at_the_programs_own_constants():
    tuned = tune(ADAMW, TASK, (0,), TuneSpec(trials=8))
    grid = start_lrs(2)    # ceil(8 / 4) points
    assert grid == (0.001, 0.1)
    assert {lr for lr, _ in tuned.comparison.sweep} >= set(grid)
    assert len(start_lrs(5)) == 5 and all(1e-4 < x < 1 for x in start_lrs(5))


def test_a_second_call_reuses_the_study_and_trains_nothing():
    first = tune(ADAMW, TASK, (0,), TuneSpec(trials=5))
    second = tune(ADAMW, TASK, (0,), TuneSpec(trials=5))
    assert first.trained == 5 and second.trained == 0
    assert second.lr == first.lr and second.values == first.values
    assert second.comparison.result.per_seed == first.comparison.result.per_seed
    assert len(second.comparison.result.curve) == TASK.steps
    # another key (seeds, trials, steps) is another study
    assert tune(ADAMW, TASK, (1,), TuneSpec(trials=5)).trained == 5
    assert tune(ADAMW, TASK, (0,), TuneSpec(trials=6)).trained == 6
    assert tune(ADAMW, get_task("quadratic", steps=50), (0,), TuneSpec(trials=5)).trained == 5


def test_the_lr_grid_is_the_old_sweep_and_a_calibrated_program_is_tuned_without_its_scale():
    grid = (0.01, 0.1, 1.0)
    tuned = tune(ADAMW, TASK, (0,), TuneSpec(TuningKind.LR_GRID, grid=grid))
    (swept,) = sweep({"adamw": ADAMW}, Evaluator(TASK, (0,)), grid)
    assert (tuned.lr, tuned.fitness) == (swept.lr, pytest.approx(swept.fitness, rel=1e-6))
    assert tuned.budget.describe() == "an lr grid of 3 trials x 1 seed over lr (3 runs)"
    assert tuned.values == {} and tuned.program == ADAMW
    # a candidate with a calibration line: the grid is in factors of its scale, and the lr
    # reported is the one to give the program without that line
    scaled = tune(scale_lr(ADAMW, 0.5), TASK, (0,), TuneSpec(TuningKind.LR_GRID, grid=grid))
    assert scaled.program == ADAMW
    assert {lr for lr, _ in scaled.comparison.sweep} == {0.005, 0.05, 0.5}


def test_a_program_without_a_declaration_tunes_its_literals():
    program = parse_program("def p(w, g, lr, t, m):\n    m = interp(g, m, 0.8)\n"
                            "    return lr * 0.5 * sign(m), m\n")
    tuned = tune(scale_lr(program, 0.1), TASK, (0,), TuneSpec(trials=4))
    assert tuned.budget.tuned == ("lr", "c1", "c2")


def test_tune_constants_keeps_the_most_sensitive_and_counts_the_screening():
    screening = Screening({"a": 0.1, "b": math.inf, "c": 0.3, "d": 0.3}, 10, 10)
    assert most_sensitive(screening, 2) == ("b", "c")
    assert most_sensitive(screening, 3) == ("b", "c", "d")
    tuned = tune(ADAMW, TASK, (0,), TuneSpec(trials=4, constants=2))
    assert len(tuned.budget.tuned) == 3 and tuned.budget.tuned[0] == "lr"
    assert tuned.budget.screening == 5 + 2 * 4     # the lr grid, then each constant down and up
    assert tuned.budget.runs == 4 + 13
    assert "13 screening" in tuned.budget.describe()
    assert tune(ADAMW, TASK, (0,), TuneSpec(trials=4, constants=2)).trained == 0


@pytest.mark.parametrize("text,message", [("0", "--tune must be a number of trials"),
                                          ("fast", "--tune must be a number of trials")])
def test_bad_tune_options_are_one_clear_error(text, message):
    with pytest.raises(LionSearchError, match=message) as info:
        TuneSpec.parse(text)
    assert "\n" not in str(info.value)
    assert TuneSpec.parse("lr", (0.1,)).grid == (0.1,)
    assert TuneSpec.parse("7").trials == 7


def test_a_tuned_program_file_reads_back_with_its_tuned_names(tmp_path):
    tuned = tune(ADAMW, TASK, (0,), TuneSpec(trials=6))
    path = tmp_path / "tuned.py"
    path.write_text(program_file_text(tuned, ADAMW, declaration_for("adamw", ADAMW), TASK, (0,)))
    program = read_program_file(path)
    assert program == tuned.program
    declaration = declaration_for(str(path), program)
    assert list(declaration.names) == ["b1", "b2", "eps", "weight_decay"]
    assert declaration.names == {**dict(zip(declaration.names, (0.9, 0.999, 1e-8, 1e-4))),
                                 **tuned.values}
    assert [h.name for h in hyperparameters(program, declaration)] == list(declaration.names)
    assert trained_loss(program, tuned.lr, (0,)).fitness == pytest.approx(tuned.fitness, rel=1e-6)


def test_the_tune_command_prints_its_table_writes_the_program_and_reuses_its_study(
        tmp_path, capsys):
    """The acceptance command, made small: a second run trains nothing."""
    out = tmp_path / "adamw_tuned.py"
    args = ["tune", "adamw", "--task", "digits-mlp", "--trials", "3",
            "--seeds", "0", "-o", str(out)]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "weight_decay" in first and "3 trials x 1 seed over lr, b1, b2, eps" in first
    assert "trained now: 3 runs" in first and out.is_file()
    assert main(args) == 0
    second = capsys.readouterr().out
    assert "trained now: 0 runs (the study was reused)" in second
    assert main(["show", str(out)]) == 0
    assert "def adamw" in capsys.readouterr().out


def test_eval_tunes_every_optimizer_on_the_same_budget_and_prints_it(tmp_path, capsys):
    plots = ["--plot", str(tmp_path / "a.png"), "--lr-plot", str(tmp_path / "b.png")]
    assert main(["eval", "adamw", "--vs", "lion", "--task", "quadratic", "--tune", "3",
                 "--seeds", "0", "--markdown", *plots]) == 0
    out = capsys.readouterr().out
    assert "3 trials x 1 seed over lr, b1, b2, eps, weight_decay" in out
    assert "3 trials x 1 seed over lr, b1, b2, weight_decay" in out
    assert main(["eval", "adamw", "--vs", "lion", "--task", "quadratic", "--tune", "lr",
                 "--grid", "0.01,0.1", "--seeds", "0", "--markdown", *plots]) == 0
    assert "an lr grid of 2 trials x 1 seed over lr" in capsys.readouterr().out
    assert main(["eval", "adamw", "--task", "quadratic", "--tune", "3", "--grid", "0.1"]) == 2
    assert "--grid is the lr grid of --tune lr" in capsys.readouterr().err
