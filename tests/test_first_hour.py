"""A new user's first hour (issue 14): export -> load -> eval, simplify within tolerance, export
of a run's best, the lr check wherever a program is shown, and what the terminal says."""
import shutil

import pytest
from rich.console import Console

from lion_search.analysis.lr_check import lr_warning
from lion_search.cli.entry import main
from lion_search.export.optax_module import write_optax_module
from lion_search.inspect.live import LiveView
from lion_search.inspect.summary import format_delta
from lion_search.language.library import seed_names
from lion_search.language.lr_scale import unscale_lr
from lion_search.language.parser import parse_program
from lion_search.runs.journal import RunStore
from lion_search.runs.references import load_program, program_name, run_best
from lion_search.search.records import Member, Stats
from lion_search.selection.simplify_run import run_evaluator, simplify_in_run
from lion_search.simplify.ablation import within
from lion_search.simplify.pipeline import simplify
from tests.conftest import small_run

LR_FREE = ("def lr_free(w, g, lr, t, m):\n    m = interp(g, m, 0.9)\n"
           "    return lr * (m / 0.19 / lr + 0.0008607), m\n")


@pytest.fixture
def run(tmp_path_factory, tmp_path):
    """A copy of the shared small run (quadratic, 40 trained evaluations), safe to write to."""
    folder = tmp_path / "run"
    shutil.copytree(small_run(tmp_path_factory), folder)
    return folder


# ------------------------------------------------------------------ 1. export, load, eval

def test_an_exported_module_loads_back_as_the_program_it_holds(tmp_path):
    program = load_program("lion")
    path = write_optax_module(program, tmp_path / "my_opt.py")
    assert load_program(str(path)) == program
    assert 'PROGRAM = """' in path.read_text()


def test_a_bad_program_in_an_exported_module_is_one_error_naming_its_line(tmp_path, capsys):
    path = write_optax_module(load_program("lion"), tmp_path / "my_opt.py")
    head, program = path.read_text().split('PROGRAM = """')
    path.write_text(head + 'PROGRAM = """' + program.replace("m = interp(g, m, 0.99)",
                                                             "m = bogus(g)", 1))
    line = head.count("\n") + 4
    assert main(["show", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"my_opt.py:{line}:" in err


def test_eval_of_an_exported_module_writes_both_plots_under_runs_eval(tmp_path, monkeypatch):
    path = write_optax_module(load_program("lion"), tmp_path / "my_opt.py")
    monkeypatch.chdir(tmp_path)
    assert main(["eval", str(path), "--vs", "sgd", "--task", "quadratic", "--grid", "0.01,0.1",
                 "--seeds", "0"]) == 0
    assert sorted(p.name for p in (tmp_path / "runs" / "eval").iterdir()) == [
        "my_opt-quadratic-lr.png", "my_opt-quadratic.png"]
    assert not list(tmp_path.glob("*.png"))


# ------------------------------------------------------------------ 2. simplification

def test_simplify_keeps_the_fitness_within_tolerance_on_the_runs_seeds(run, capsys):
    store = RunStore.open(run)
    best = run_best(store)
    report, pid = simplify_in_run(store, best.id, 0.01)
    evaluator = run_evaluator(store)    # on the run's seeds, paired with AdamW's as it scored
    store.close()
    original = evaluator.evaluate(parse_program(best.text)).fitness
    simplified = evaluator.evaluate(report.after).fitness
    assert report.fitness_after == simplified
    assert within(simplified, original, 0.01)
    assert main(["show", f"{run}:{pid}"]) == 0
    assert f"fitness {simplified:.4g}" in capsys.readouterr().out


def test_simplify_falls_back_when_the_result_leaves_the_tolerance():
    program = parse_program("def p(w, g, lr, t):\n    x = g * 1\n    return lr * x\n")
    report = simplify(program, lambda p: 1.0 if p == program else 2.0)
    assert report.after == program and report.fitness_after == 1.0


def test_a_log_ratio_fitness_has_an_absolute_tolerance():
    assert within(-0.0016 + 0.009, -0.0016, 0.01, absolute=True)
    assert not within(-0.0016 + 0.009, -0.0016, 0.01)
    assert within(0.0101, 0.01, 0.01) and not within(0.0102, 0.01, 0.01)


# ------------------------------------------------------------------ 3. export RUN:best

def test_export_of_a_runs_best_is_its_simplified_form_named_after_the_run(run, tmp_path, capsys):
    store = RunStore.open(run)
    best = run_best(store)
    report, _ = simplify_in_run(store, best.id, 0.01, ablation=False)
    store.close()
    unscaled, scale = unscale_lr(report.after)
    out = tmp_path / "my_opt.py"
    assert main(["export", f"{run}:best", "-o", str(out)]) == 0
    assert f"learning_rate={scale:.3g}" in capsys.readouterr().out
    exported = load_program(str(out))
    assert exported.name == program_name(run, best.id) == f"run_{best.id}"
    assert exported.body == unscaled.body                # without its `lr = c * lr`
    assert f"tx = optimizer(learning_rate={scale:.3g})" in out.read_text()
    assert main(["export", f"{run}:best", "-o", str(out), "--raw"]) == 0
    assert load_program(str(out)).body == unscale_lr(parse_program(best.text))[0].body


# ------------------------------------------------------------------ 4. the lr check

def test_the_lr_check_flags_a_program_where_lr_cancels_and_passes_every_seed():
    assert lr_warning(parse_program(LR_FREE)) is not None
    assert all(lr_warning(load_program(name)) is None for name in seed_names())


def test_show_and_export_warn_about_a_program_that_ignores_lr(tmp_path, capsys):
    path = tmp_path / "lr_free.py"
    path.write_text(LR_FREE)
    assert main(["show", str(path)]) == 0
    assert "does not grow with lr" in capsys.readouterr().out
    out = tmp_path / "lr_free_opt.py"
    assert main(["export", str(path), "-o", str(out)]) == 0
    assert "does not grow with lr" in capsys.readouterr().out
    assert "WARNING: this program's update does not grow with lr" in out.read_text()


# ------------------------------------------------------------------ 5. what the terminal says

def test_a_mistyped_run_folder_is_named_as_such(tmp_path, capsys):
    assert main(["show", str(tmp_path / "nope") + ":best"]) == 2
    assert f"no run folder '{tmp_path / 'nope'}'" in capsys.readouterr().err


def test_resuming_a_finished_run_says_so_without_starting_it(run, capsys):
    assert main(["evolve", "--out", str(run), "--resume", "--workers", "2"]) == 0
    assert "is finished: 40/40 evaluations trained" in capsys.readouterr().out


def test_vs_seed_reads_the_same_everywhere_and_a_tie_is_no_new_best():
    assert format_delta(0.0143, 0.0273, False) == "-47.6% vs seed"
    assert format_delta(0.02729, 0.0273, False) == "-0.037% vs seed"
    assert format_delta(-0.158, 0.109, True) == "-0.267 vs seed"
    console = Console(record=True, width=100)
    view = LiveView(console)
    member = Member(1, parse_program(LR_FREE), 0.5)
    view.new_best(member, Stats(1, 10, 0, 1, 1.0, member, 0.5))
    assert "new best" not in console.export_text()
    view.new_best(member, Stats(1, 10, 0, 1, 1.0, member, 0.6))
    assert "new best #1: fitness 0.5 -16.7% vs seed" in console.export_text()
