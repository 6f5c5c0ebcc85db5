"""Code no training tested (analysis/branch_coverage.py, selection/untested.py): the sides of a
program's per-tensor decisions that other tasks' tensors take and its training tasks' never
did, named in one line by `export` and at the end of `evolve`."""
from lion_search.analysis.branch_coverage import (
    Untested,
    untested_decisions,
    untested_warning,
)
from lion_search.cli import main
from lion_search.language.library import read_program
from lion_search.language.parser import parse_program
from lion_search.language.plan import Mode
from lion_search.runs.journal import RunStore
from lion_search.search.config import EvolveConfig

# BENCHMARKS 19, seed 2's RUN:best: the raw gradient, without lr, on tensors with fan_in >= 200,
# which neither text-lm-micro nor text-lm-mini has and text-lm-10x has
UNTRAINED_BRANCH = parse_program("""
def found(w, g, lr, t, m2):
    m2 = interp(g, m2, 0.5)
    lr = 0.009 * lr
    return where(fan_in >= 200, g, lr * tanh(m2 / square((fan_in >= 200) - m2))), m2
""")
# a comparison read as a number: twice the step on tensors with fan_in >= 100
DOUBLED = parse_program("""
def doubled(w, g, lr, t):
    return lr * g * (1 + (fan_in >= 100))
""")


def test_a_branch_only_untrained_tensors_take_is_named_with_where_it_is_taken():
    untested = untested_decisions(UNTRAINED_BRANCH, ["text-lm-micro", "text-lm-mini"],
                                  ["text-lm-10x", "text-lm-micro", "digits-mlp"])
    # (its comparisons are read only as that where's condition, or on every tensor alike)
    where = next(j for j, ins in enumerate(UNTRAINED_BRANCH.body) if ins.op == "where")
    assert [(u.index, u.side, list(u.tensors)) for u in untested] == [
        (where, Mode.TAKE_A, ["text-lm-10x"])]
    text = untested[0].describe(UNTRAINED_BRANCH)
    assert text.startswith("where(fan_in >= 200, ...) takes its first value (g) on ")
    assert text.endswith("tensor(s) of text-lm-10x")
    # trained on text-lm-10x too, both sides were trained
    assert untested_decisions(UNTRAINED_BRANCH, ["text-lm-micro", "text-lm-10x"],
                              ["text-lm-100x"]) == []


def test_a_comparison_read_as_a_number_is_a_decision_too():
    untested, = untested_decisions(DOUBLED, ["digits-mlp"], ["digits-mlp-10x", "quadratic"])
    compare = next(j for j, ins in enumerate(DOUBLED.body) if ins.op == "ge")
    # (digits-mlp's layers take 64 inputs; digits-mlp-10x's second and third, 128)
    assert untested == Untested(compare, True, {"digits-mlp-10x": 2})
    assert untested.describe(DOUBLED) == "fan_in >= 100 is true on 2 tensor(s) of digits-mlp-10x"


def test_muon_is_tested_on_a_task_with_matrices_and_vectors_and_not_on_vectors_alone():
    muon = read_program("muon")
    assert untested_warning(muon, ["digits-mlp"]) is None
    warning = untested_warning(muon, ["quadratic"])
    assert warning.startswith("untested code: where(matrix, ...) takes its first value ")
    assert warning.endswith("and on no tensor of the tasks it was trained on (quadratic)")
    assert "matrix is true" not in warning     # the condition is named once, by its where
    assert untested_warning(read_program("adamw"), ["quadratic"]) is None


def doubled_run(folder):
    """A run on digits-mlp, promoting to digits-cnn, whose one program is DOUBLED."""
    config = EvolveConfig(task="digits-mlp", promote_tasks="digits-cnn", budget=10)
    store = RunStore.create(folder, config.to_json())
    pid = store.add_program(str(DOUBLED), ("h", "f"), None, "test", "child")
    store.add_evaluation(pid, kind="search", fitness=0.5, status="ok", task="digits-mlp",
                         seeds=(0,), seconds=0.1, worker="t")
    store.set_value("seeds", [])
    store.close()
    return pid


def test_export_and_the_end_of_a_run_warn_of_untested_code(tmp_path, capsys):
    from lion_search.cli.evolve import _print_outcome

    folder = tmp_path / "run"
    pid = doubled_run(folder)
    main(["export", f"{folder}:{pid}", "-o", str(tmp_path / "doubled.py")])
    _print_outcome(folder, "finished")
    out = capsys.readouterr().out
    assert out.count("untested code: fan_in >= 100 is true on") == 2
    assert out.count("trained on (digits-mlp, digits-cnn)") == 2
