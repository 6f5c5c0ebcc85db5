"""The lr check: seeds (calibrated or not) grow with lr; programs that cancel or ignore it fail."""
import math

import pytest

from lion_search.analysis.lr_check import grows_with_lr, lr_growth
from lion_search.language.library import seed_names
from lion_search.language.lr_scale import scale_lr
from lion_search.language.parser import parse_program
from lion_search.runs.references import load_program

ADAM_BODY = """
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    return lr * m / (sqrt(v) + 1e-8), m, v
"""


def program(text: str):
    return parse_program(text.strip() + "\n")


@pytest.mark.parametrize("name", seed_names())
def test_seeds_grow_linearly_with_lr(name):
    seed = load_program(name)
    assert lr_growth(seed) == pytest.approx(2.0, rel=1e-2)
    assert grows_with_lr(seed)


@pytest.mark.parametrize("name", seed_names())
def test_calibrated_seeds_pass(name):
    assert grows_with_lr(scale_lr(load_program(name), 0.03))


def test_lr_that_cancels_fails():
    cancels = program("""
def p(w, g, lr, t, m):
    m = interp(g, m, 0.9)
    return lr * (m / 0.19 / lr + 0.0008607), m""")
    assert lr_growth(cancels) == pytest.approx(1.0, abs=1e-3)
    assert not grows_with_lr(cancels)


def test_lr_replaced_by_a_modulus_fails():
    """On lr in (0.03, 1], 0.03 % lr is the constant 0.03: the schedule is ignored."""
    assert not grows_with_lr(program("def p(w, g, lr, t, m, v):\n    lr = 0.03 % lr" + ADAM_BODY))


def test_no_lr_fails():
    constant_step = program("def p(w, g, lr, t):\n    return 1.361 * g")
    assert lr_growth(constant_step) == 1.0 and not grows_with_lr(constant_step)


def test_lr_offsets_and_floors_fail():
    assert not grows_with_lr(program("def p(w, g, lr, t):\n    return max(lr, 0.01) * g"))
    assert not grows_with_lr(program("def p(w, g, lr, t):\n    return (lr + 0.001) * g"))


def test_lr_accumulated_in_memory_passes():
    """PyTorch-style momentum keeps lr * g in its slot; the slot starts at zero."""
    assert grows_with_lr(program("def p(w, g, lr, t, m):\n    m = 0.9 * m + lr * g\n    return m, m"))


def test_a_zero_update_fails():
    zero = program("def p(w, g, lr, t):\n    return lr * g * 0")
    assert lr_growth(zero) == 1.0 and not grows_with_lr(zero)


def test_an_update_that_starts_at_the_higher_lr_fails():
    switch = program("def p(w, g, lr, t):\n    return (lr > 0.7) * g")
    assert math.isnan(lr_growth(switch)) and not grows_with_lr(switch)


def test_lr_ignored_past_a_training_length_fails():
    """A search found `where(T >= 136.8, m, lr)`: at the probe's own T = 100 the update grows
    with lr; on every task of 137 steps or more it ignores lr."""
    from lion_search.analysis.lr_check import context_growths

    past = program("def p(w, g, lr, t, m):\n    m = interp(g, m, 0.5)\n"
                   "    return where(T >= 136.8, m, lr * m), m")
    assert context_growths(past, [(100.0, None, 0.5)])[0] == pytest.approx(2.0, rel=1e-3)
    assert context_growths(past, [(1_000.0, None, 0.5)])[0] == pytest.approx(1.0, abs=1e-6)
    assert not grows_with_lr(past)


def test_lr_ignored_on_wide_tensors_fails():
    wide = program("def p(w, g, lr, t):\n    return where(fan_in >= 128, g, lr * g)")
    assert not grows_with_lr(wide)
    assert grows_with_lr(program("def p(w, g, lr, t):\n    return where(fan_in >= 128, lr, 1) * lr * g"))


def test_only_live_reads_of_shape_inputs_widen_the_check():
    from lion_search.analysis.lr_check import LR_LEVELS, contexts

    dead_read = program("def p(w, g, lr, t):\n    v = T * rank\n    return lr * g")
    assert contexts(dead_read) == contexts(load_program("adamw")) and len(contexts(dead_read)) == len(LR_LEVELS)
    assert len(contexts(program("def p(w, g, lr, t):\n    return lr * g * (T > 0)"))) > 1
