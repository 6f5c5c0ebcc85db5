"""Abstract execution: seeds pass; unset names, g-free updates, bad shapes and limits fail."""
import math

import pytest

from lion_search.language.library import seed_names
from lion_search.language.parser import parse_program
from lion_search.language.program import Instr, Program
from lion_search.language.validate import Limits, check, depends_on, is_valid
from lion_search.runs.references import load_program

ROOMY = Limits(max_length=64, max_memory=8)


def program(text: str) -> Program:
    return parse_program(text.strip() + "\n")


@pytest.mark.parametrize("name", seed_names())
def test_every_seed_is_valid(name):
    assert check(load_program(name), ROOMY) is None


def test_limits_default_to_32_instructions_and_4_slots():
    assert Limits() == Limits(max_length=32, max_memory=4)


def test_too_long():
    ranger = load_program("ranger")
    assert len(ranger) > 32
    assert "too long" in check(ranger)
    assert not is_valid(ranger, Limits(max_length=len(ranger) - 1))
    assert is_valid(ranger, Limits(max_length=len(ranger)))


def test_too_much_memory():
    p = program("""
def p(w, g, lr, t, a, b, c, d, e):
    return lr * g, a, b, c, d, e
""")
    assert "memory" in check(p)
    assert is_valid(p, Limits(max_memory=5))


def test_unset_name():
    p = Program("p", (), (Instr("u", "mul", ("lr", "x")),), ("u",))
    assert "'x'" in check(p) and "before it is set" in check(p)


def test_name_read_before_its_first_write():
    p = Program("p", (), (Instr("u", "mul", ("lr", "v")), Instr("v", "copy", ("g",))), ("u",))
    assert "'v'" in check(p)


def test_unset_output():
    p = Program("p", ("m",), (Instr("u", "mul", ("lr", "g")),), ("u", "m2"))
    assert "'m2'" in check(p)


def test_update_must_depend_on_g():
    assert "gradient" in check(program("def p(w, g, lr, t):\n    return lr * w"))


def test_dependence_follows_reassignment_order():
    overwritten = program("""
def p(w, g, lr, t):
    g = 2
    return lr * g * w
""")
    assert "gradient" in check(overwritten)
    dead_use = program("""
def p(w, g, lr, t):
    u = lr * w
    v = u * g
    return u
""")
    assert "gradient" in check(dead_use)
    live_use = program("""
def p(w, g, lr, t):
    u = lr * w
    u = u * g
    return u
""")
    assert check(live_use) is None


def test_dependence_through_memory_across_steps():
    lagged = program("""
def p(w, g, lr, t, a, b):
    u = lr * a
    a = b
    b = interp(g, b, 0.9)
    return u, a, b
""")
    assert check(lagged) is None
    assert depends_on(lagged, frozenset({"g"})) == (False, False, True)
    no_path = program("""
def p(w, g, lr, t, m):
    u = lr * m
    m = interp(w, m, 0.9)
    return u, m
""")
    assert "gradient" in check(no_path)


def test_update_shape_must_be_tensor():
    assert "PER_TENSOR" in check(program("def p(w, g, lr, t):\n    return lr * rms(g)"))
    assert "SCALAR" in check(program("def p(w, g, lr, t):\n    return lr * global_norm(g)"))
    assert check(program("def p(w, g, lr, t):\n    return lr * g / global_norm(g)")) is None


def test_malformed_programs():
    ok = Instr("u", "mul", ("lr", "g"))
    cases = {
        "unknown op": Program("p", (), (Instr("u", "frobnicate", ("g",)),), ("u",)),
        "takes 2 args": Program("p", (), (Instr("u", "mul", ("g",)),), ("u",)),
        "not a finite float": Program("p", (), (Instr("u", "mul", ("g", math.inf)),), ("u",)),
        "returns 1 values": Program("p", ("m",), (ok,), ("u",)),
        "bad name": Program("p", (), (Instr("1x", "mul", ("lr", "g")),), ("1x",)),
        "repeat": Program("p", ("g",), (ok,), ("u", "g")),
    }
    for reason, p in cases.items():
        assert reason in check(p), (reason, check(p))
