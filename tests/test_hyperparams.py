"""Named hyperparameters: seed declarations, numeric literals, search scales, substitution."""
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lion_search.export.optax_module import write_optax_module
from lion_search.language.errors import ProgramError
from lion_search.language.hyperparams import (
    NO_DECLARATION,
    Declaration,
    Hyperparameter,
    Scale,
    Site,
    constant_sites,
    declaration_of,
    evaluate_formula,
    hyperparameters,
    parse_declaration,
    read_declaration,
    scale_of,
    seed_declaration,
    substitute,
)
from lion_search.language.library import read_program, seed_names
from lion_search.language.lr_scale import scale_lr
from lion_search.language.parser import parse_program

SEEDS = {name: read_program(name) for name in seed_names()}


def values_at(program, hyperparameter):
    found = dict(constant_sites(program))
    return {found[site] for site in hyperparameter.sites}


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_every_seed_declares_its_constants_and_each_names_places_of_the_program(name):
    params = hyperparameters(SEEDS[name])
    declared = seed_declaration(name)
    assert [h.name for h in params] == list(declared.names)
    for h in params:
        assert h.sites and values_at(SEEDS[name], h) == {h.value}
        assert h.scale is scale_of(h.value)
    if name != "sgd":   # sgd has no constant to name
        assert params


def test_adamws_hyperparameters_are_its_betas_epsilon_and_weight_decay():
    params = {h.name: h for h in hyperparameters(SEEDS["adamw"])}
    assert {n: (h.value, len(h.sites), h.scale) for n, h in params.items()} == {
        "b1": (0.9, 2, Scale.DECAY), "b2": (0.999, 2, Scale.DECAY),
        "eps": (1e-8, 1, Scale.LOG), "weight_decay": (1e-4, 1, Scale.LOG)}
    assert params["b1"].where == "m = interp(g, m, 0.9)"   # the momentum and 1 - 0.9 ** t


def test_substituting_a_name_sets_every_place_and_recomputes_derived_constants():
    tuned = substitute(SEEDS["nadam"], {"b1": 0.7, "eps": 1e-6})
    assert str(tuned) == (
        "def nadam(w, g, lr, t, m, v):\n"
        "    m = interp(g, m, 0.7)\n"
        "    v = interp(square(g), v, 0.999)\n"
        "    m_hat = 0.7 * (m / (1 - 0.7 ** (t + 1))) + 0.3 * (g / (1 - 0.7 ** t))\n"
        "    v_hat = v / (1 - 0.999 ** t)\n"
        "    return lr * m_hat / (sqrt(v_hat) + 1e-6), m, v\n")
    assert parse_program(str(tuned)) == tuned
    with pytest.raises(ProgramError, match="no hyperparameter beta1; its hyperparameters: b1, b2"):
        substitute(SEEDS["nadam"], {"beta1": 0.7})
    with pytest.raises(ProgramError, match="not a finite number"):
        substitute(SEEDS["nadam"], {"b1": math.nan})


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(n for n in SEEDS if n != "sgd")), data=st.data())
def test_substitution_changes_exactly_the_named_places(name, data):
    seed = SEEDS[name]
    params = hyperparameters(seed)
    chosen = data.draw(st.lists(st.sampled_from(params), unique=True, min_size=1))
    values = {}
    for h in chosen:
        low, high = h.search_range()
        values[h.name] = data.draw(st.floats(low, high, allow_nan=False, allow_infinity=False))
    tuned = substitute(seed, values)
    assert parse_program(str(tuned)) == tuned   # still canonical, still valid text
    derived = {d.value for d in seed_declaration(name).derived}
    before, after = dict(constant_sites(seed)), dict(constant_sites(tuned))
    named = {site: values[h.name] for h in chosen for site in h.sites}
    for site, value in before.items():
        if site in named:
            assert after[site] == named[site]
        elif value not in derived:
            assert after[site] == value


def test_a_program_that_is_not_a_seed_has_its_literals_without_the_lr_scale():
    program = scale_lr(substitute(SEEDS["lion"], {"b1": 0.5}), 0.0316)
    assert declaration_of(program) == NO_DECLARATION
    params = hyperparameters(program)
    assert [(h.name, h.value, h.where) for h in params] == [
        ("c1", 0.5, "c = interp(g, m, 0.5)"), ("c2", 0.99, "m = interp(g, m, 0.99)"),
        ("c3", 0.001, "return lr * (sign(c) + 0.001 * w), m")]
    assert all(len(h.sites) == 1 for h in params)
    assert Site(0, 0) not in {s for h in params for s in h.sites}   # lr = 0.0316 * lr
    changed = substitute(program, {"c2": 0.95})
    assert "m = interp(g, m, 0.95)" in str(changed) and "lr = 0.0316 * lr" in str(changed)


@pytest.mark.parametrize("value,scale", [(0.9, Scale.DECAY), (0.5, Scale.DECAY),
                                         (0.999, Scale.DECAY), (0.4999, Scale.LOG),
                                         (1.0, Scale.LOG), (1e-8, Scale.LOG), (5.0, Scale.LOG),
                                         (0.0, Scale.LINEAR), (-0.8, Scale.LINEAR)])
def test_scale_follows_the_value(value, scale):
    assert scale_of(value) is scale


@given(st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False).filter(lambda x: x != 1.0),
       st.floats(0.1, 3.0))
def test_search_scale_round_trips_and_its_range_brackets_the_value(value, decades):
    h = Hyperparameter("x", value, (Site(0, 0),), scale_of(value), "")
    assume(h.scale is not Scale.LOG or value > 1e-300)
    assert h.from_search(h.to_search(value)) == pytest.approx(value, rel=1e-9, abs=1e-12)
    low, high = h.search_range(decades)
    assert low <= value <= high and low < high
    if h.scale is Scale.DECAY:
        assert 0.0 <= low and high < 1.0   # a decay stays a decay
    if h.scale is Scale.LOG:
        assert low > 0.0


NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
VALUES = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@given(st.dictionaries(NAMES, VALUES, min_size=1, max_size=5).filter(
    lambda d: len(set(d.values())) == len(d)))
def test_a_declaration_reads_back_what_it_wrote(names):
    text = "# header\n# hyperparameters: " + ", ".join(f"{n} = {v!r}" for n, v in names.items())
    assert parse_declaration(text + "\ndef f(w, g, lr, t):\n    return g\n").names == names


@pytest.mark.parametrize("text,message", [
    ("# hyperparameters: b1 0.9", "'b1 0.9' is not `name = value`"),
    ("# hyperparameters: b1 = 0.9, b1 = 0.8", "'b1' is not a new name"),
    ("# hyperparameters: 1b = 0.9", "'1b' is not a new name"),
    ("# hyperparameters: b1 = nan", "'nan' is not a finite number"),
    ("# hyperparameters: b1 = x", "'x' is not a finite number"),
    ("# hyperparameters: b1 = 0.9, b2 = 0.9", "two hyperparameters share a value"),
    ("# hyperparameters: b1 = 0.9\n# derived: 0.2 = 1 - b1", "derived 0.2 = 1 - b1 gives"),
    ("# hyperparameters: b1 = 0.9\n# derived: 0.1 = 1 - b2", "'b2' is not allowed in a formula"),
    ("# hyperparameters: b1 = 0.9\n# derived: 0.1 = __import__('os').getpid()",
     "is not allowed in a formula"),
    ("# hyperparameters: b1 = 0.9\n# derived: 0.1 = (1 -", "is not an expression"),
    ("# hyperparameters: b1 = 0\n# derived: 0.1 = 1 / b1", "has no finite value"),
])
def test_bad_declarations_are_one_clear_error(text, message):
    with pytest.raises(ProgramError, match="<program>:") as info:
        parse_declaration(text)
    assert message in str(info.value)


def test_a_formula_is_arithmetic_over_the_declared_names():
    assert evaluate_formula("sqrt(b2)", {"b2": 0.25}) == 0.5
    assert evaluate_formula("2 / (1 - b2) - 1", {"b2": 0.999}) == pytest.approx(1999)
    assert evaluate_formula("-b1 ** 2", {"b1": 3.0}) == -9.0


def test_a_declared_value_the_program_lacks_is_an_error():
    with pytest.raises(ProgramError, match="b1 = 0.8 is declared, but no constant of 'lion'"):
        hyperparameters(SEEDS["lion"], Declaration({"b1": 0.8}))


def test_a_program_file_with_a_declaration_names_its_constants(tmp_path):
    path = tmp_path / "tuned.py"
    path.write_text("# hyperparameters: beta = 0.8\ndef tuned(w, g, lr, t, m):\n"
                    "    m = interp(g, m, 0.8)\n    return lr * sign(m), m\n")
    declaration = read_declaration(path)
    params = hyperparameters(read_program(path), declaration)
    assert [(h.name, h.value, h.scale) for h in params] == [("beta", 0.8, Scale.DECAY)]
    module = write_optax_module(read_program(path), tmp_path / "exported.py")
    assert read_declaration(module) == NO_DECLARATION   # an exported module declares none
    with pytest.raises(ProgramError, match="cannot read program file"):
        read_declaration(tmp_path / "missing.py")
