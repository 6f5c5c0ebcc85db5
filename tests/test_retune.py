"""Retunes named as retunes: a seed with other constants is a retune of that seed, anything else
is new structure with its diff to the nearest seed."""
import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lion_search.analysis.retune import CONSTANT, Kind, relate
from lion_search.analysis.structure import (
    canonical,
    differing_instructions,
    graph,
    pair_instructions,
)
from lion_search.cli.entry import main
from lion_search.language.hyperparams import (
    constant_sites,
    hyperparameters,
    seed_declaration,
    substitute,
)
from lion_search.language.library import read_program, seed_names
from lion_search.language.lr_scale import scale_lr
from lion_search.language.parser import normalize, parse_program
from lion_search.language.program import ALL_INPUTS, Instr
from lion_search.language.validate import Limits, check
from lion_search.search.mutate import mutate

SEEDS = {name: read_program(name) for name in seed_names()}
ADAMW = SEEDS["adamw"]

# #106 of BENCHMARKS section 12: AdamW with b1 0.5297 in its momentum only, as the search found it.
RUN_106 = """def adamw(w, g, lr, t, m, v):
    lr = 0.03162277660168379 * lr
    m = interp(g, m, 0.5297)
    v = interp(square(g), v, 0.999)
    m_hat = m / (1 - 0.9 ** t)
    v_hat = v / (1 - 0.999 ** t)
    return lr * (m_hat / (sqrt(v_hat) + 1e-8) + 0.0001 * w), m, v
"""
TANH_V = str(ADAMW).replace("interp(square(g), v, 0.999)", "interp(tanh(g), v, 0.999)")


def test_adamw_with_other_betas_is_a_retune_listing_each_change():
    relation = relate(substitute(ADAMW, {"b1": 0.5297, "b2": 0.95}))
    assert relation.kind is Kind.RETUNE and relation.seed == "adamw"
    assert [str(c) for c in relation.changes] == ["b1 0.9 -> 0.5297", "b2 0.999 -> 0.95"]
    assert relation.headline == "retune of adamw: b1 0.9 -> 0.5297, b2 0.999 -> 0.95"
    assert relation.verdict(True) == "retune of adamw: passes"
    assert relation.verdict(False) == "retune of adamw: out"


def test_the_searchs_106_is_adamw_with_b1_changed_in_one_of_two_places():
    relation = relate(parse_program(RUN_106))
    assert relation.headline == "retune of adamw: b1 0.9 -> 0.5297 at 1 of 2 places"
    assert relation.lr_scale == pytest.approx(0.0316227766)
    assert "lr = 0.03162277660168379 * lr" in relation.describe()
    assert relation.to_json()["changes"] == [
        {"name": "b1", "seed_value": 0.9, "value": 0.5297, "places": 1, "of": 2}]


def test_a_different_op_is_new_structure_with_its_diff_to_the_nearest_seed():
    relation = relate(parse_program(TANH_V))
    assert relation.kind is Kind.NEW_STRUCTURE and relation.seed == "adamw"
    assert relation.differing == 1
    assert relation.headline == "new structure (nearest seed adamw, 1 instruction differs)"
    assert relation.verdict(False) == "new structure: out"
    changed = [line for line in relation.diff.splitlines() if line[:1] in "+-"]
    assert changed == ["-    v = interp(square(g), v, 0.999)", "+    v = interp(tanh(g), v, 0.999)"]
    assert relation.to_json()["diff"] == relation.diff


def test_a_renamed_new_structure_is_diffed_in_the_seeds_names():
    mine = renamed(parse_program(TANH_V), ["mom", "vel", "mh", "vh"])
    assert mine.memory == ("mom", "vel") and "mh = mom / (1 - 0.9 ** t)" in str(mine)
    assert relate(mine).diff == relate(parse_program(TANH_V)).diff


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_every_seed_is_its_own_retune_with_no_change(name):
    relation = relate(SEEDS[name])
    assert (relation.kind, relation.seed, relation.changes) == (Kind.RETUNE, name, ())
    assert relation.headline == f"{name} itself (no constant changed)"
    assert relation.verdict(True) == f"{name} itself: passes"


def drawn_value(data, h):
    low, high = h.search_range()
    return data.draw(st.floats(low, high, allow_nan=False, allow_infinity=False))


@settings(max_examples=80, deadline=None)   # values of 0, 1 or -1 would let rewrites fire
@given(name=st.sampled_from(sorted(n for n in SEEDS if n != "sgd")), data=st.data(),
       lr_scale=st.sampled_from([1.0, 0.0316, 3.0]))
def test_a_seed_with_other_constants_is_a_retune_naming_each(name, data, lr_scale):
    chosen = data.draw(st.lists(st.sampled_from(hyperparameters(SEEDS[name])), unique=True, min_size=1))
    values = {h.name: drawn_value(data, h) for h in chosen}
    program = substitute(SEEDS[name], values)
    before, after = dict(constant_sites(SEEDS[name])), dict(constant_sites(program))
    assume(all(after[s] not in (0.0, 1.0, -1.0) for s in after if after[s] != before[s]))
    relation = relate(scale_lr(program, lr_scale) if lr_scale != 1.0 else program)
    assert (relation.kind, relation.seed) == (Kind.RETUNE, name)
    assert relation.lr_scale == lr_scale
    labels = {(c.label, c.value) for c in relation.changes}
    for h in chosen:
        if values[h.name] != h.value:
            assert (h.name, values[h.name]) in labels
    derived = {d.formula for d in seed_declaration(name).derived}
    unchosen = {h.name for h in hyperparameters(SEEDS[name])} - set(values)
    assert all(c.label in set(values) | derived | {CONSTANT} for c in relation.changes)
    assert not any(c.label in unchosen for c in relation.changes)


def renamed(program, names):
    """The program with each of its own names (memory and variables) replaced by names[k]."""
    own = list(dict.fromkeys(program.memory + tuple(i.dst for i in program.body
                                                    if not i.dst.startswith("_"))))
    own = [n for n in own if n not in ALL_INPUTS]
    mapping = dict(zip(own, names))

    def name(a):
        return mapping.get(a, a) if isinstance(a, str) else a

    body = tuple(replace(i, dst=name(i.dst), args=tuple(map(name, i.args))) for i in program.body)
    return normalize(replace(program, name="renamed", memory=tuple(map(name, program.memory)),
                             body=body, outputs=tuple(map(name, program.outputs))))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(SEEDS)), data=st.data())
def test_renaming_dead_code_and_exact_rewrites_keep_a_retune(name, data):
    seed = SEEDS[name]
    fresh = data.draw(st.lists(st.from_regex(r"q[a-z]{1,5}", fullmatch=True), unique=True,
                               min_size=20, max_size=20))
    program = renamed(seed, fresh)
    body = list(program.body)
    for _ in range(data.draw(st.integers(1, 3))):   # x = x * 1 after a named write, or dead code
        at = data.draw(st.integers(0, len(body)))
        named = [i.dst for i in body[:at] if not i.dst.startswith("_") and i.dst not in ALL_INPUTS]
        if named and data.draw(st.booleans()):
            x = data.draw(st.sampled_from(named))
            body.insert(at, Instr(x, "mul", (x, 1.0)))
        else:
            body.insert(at, Instr(data.draw(st.sampled_from(["dead", "unused"])), "tanh", ("g",)))
    program = normalize(replace(program, body=tuple(body)))
    assert check(program, Limits(max_length=10**6, max_memory=10**6)) is None
    relation = relate(program)
    assert (relation.kind, relation.seed, relation.changes) == (Kind.RETUNE, name, ())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(SEEDS)), seed=st.integers(0, 2**32 - 1),
       mutations=st.integers(1, 4))
def test_any_mutated_program_relates_and_pairs_perfectly_with_itself(name, seed, mutations):
    rng = np.random.default_rng(seed)
    program = SEEDS[name]
    limits = Limits(max_length=len(program) + 8, max_memory=max(program.slots, 4))
    for _ in range(mutations):
        program = mutate(program, rng, limits=limits).program
    own = graph(canonical(program)[0])
    assert differing_instructions(own, own, pair_instructions(own, own)) == 0
    relation = relate(program)
    if relation.kind is Kind.NEW_STRUCTURE:
        assert relation.differing >= 1 and relation.diff
        assert any(line[:1] in "+-" for line in relation.diff.splitlines())
    else:
        assert relation.differing == 0 and relation.diff == ""


UNARY = ("tanh", "abs", "sign", "exp", "square")


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(n for n in SEEDS if any(
    i.op in UNARY for i in canonical(SEEDS[n])[0].body))), data=st.data())
def test_one_changed_op_is_one_differing_instruction(name, data):
    seed = canonical(SEEDS[name])[0]
    unary = [i for i, ins in enumerate(seed.body) if ins.op in UNARY]
    assume(unary)
    index = data.draw(st.sampled_from(unary))
    op = data.draw(st.sampled_from([op for op in UNARY if op != seed.body[index].op]))
    changed = normalize(replace(seed, body=seed.body[:index] + (
        replace(seed.body[index], op=op),) + seed.body[index + 1:]))
    assume(check(changed, Limits(10**6, 10**6)) is None)   # valid, and no rewrite rule fires
    assume(canonical(changed)[0] == changed)
    relation = relate(changed)
    assert relation.kind is Kind.NEW_STRUCTURE and relation.differing == 1


def test_show_says_retune_or_new_structure(tmp_path, capsys):
    retune = tmp_path / "adamw_b1.py"
    retune.write_text(str(substitute(ADAMW, {"b1": 0.5297, "b2": 0.95})))
    assert main(["show", str(retune)]) == 0
    out = capsys.readouterr().out
    assert "retune of adamw" in out and "b1 0.9 -> 0.5297" in out and "b2 0.999 -> 0.95" in out
    new = tmp_path / "tanh_v.py"
    new.write_text(TANH_V)
    assert main(["show", str(new)]) == 0
    out = capsys.readouterr().out
    assert "new structure (nearest seed adamw, 1 instruction differs)" in out
    assert "+    v = interp(tanh(g), v, 0.999)" in out
    assert main(["show", str(retune), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["relation"]
    assert shown["label"] == "retune of adamw" and shown["changes"][0]["name"] == "b1"


# A retune of Lion and a new structure (gradient ascent: SGD with its step negated), funnelled
# against SGD at a learning rate too small to learn (lr sweeps on one task, to be quick): the
# retune passes both stages and is exported, labelled; the ascent loses on the first.
FUNNEL_STAGES = {"stages": [{"name": "A", "tasks": ["quadratic"], "seeds": [0], "pass": "mean"},
                            {"name": "B", "tasks": ["quadratic"], "seeds": [1],
                             "pass": "every_task"}],
                 "baselines": ["sgd"], "baseline_grid": [1e-7], "candidate_grid": [0.01],
                 "tune": "lr"}
ASCENT = "def ascent(w, g, lr, t):\n    return -(lr * g)\n"


def test_the_funnel_labels_a_passing_retune_and_a_failing_new_structure(tmp_path):
    from lion_search.analysis.dedup import DedupCache
    from lion_search.runs.journal import RunStore
    from lion_search.search.config import EvolveConfig
    from lion_search.selection.funnel import run_funnel

    store = RunStore.create(tmp_path / "run", EvolveConfig(task="quadratic").to_json())
    retune = scale_lr(substitute(SEEDS["lion"], {"b1": 0.5}), 0.3)
    for fitness, program in ((0.1, retune), (0.2, parse_program(ASCENT))):
        pid = store.add_program(str(program), DedupCache().keys(program), None, "", "search")
        store.add_evaluation(pid, kind="search", fitness=fitness, status="ok",
                             task="quadratic", seeds=(0,), seconds=1.0, worker="test")
    (tmp_path / "stages.json").write_text(json.dumps(FUNNEL_STAGES))
    record = run_funnel(store, top=2, stages_path=tmp_path / "stages.json")
    store.close()
    labels = {c["name"]: c["relation"]["headline"] for c in record["candidates"]}
    assert labels == {"c1": "retune of lion: b1 0.9 -> 0.5",
                      "c2": "new structure (nearest seed sgd, 1 instruction differs)"}
    verdicts = [(c["name"], c["verdict"]) for stage in record["stages"]
                for c in stage["candidates"]]
    assert verdicts == [("c1", "retune of lion: passes"), ("c2", "new structure: out"),
                        ("c1", "retune of lion: passes")]
    [winner] = record["winners"]
    assert winner["relation"] == "retune of lion: b1 0.9 -> 0.5"
    module = (tmp_path / "run" / winner["path"]).read_text()
    assert module.startswith('"""lion with b1 0.9 -> 0.5 (the program run_1): ')  # its run's name
    from lion_search.inspect.report.tables import funnel_html

    page = funnel_html(record)
    assert "retune of lion: passes" in page and "new structure: out" in page
    from rich.console import Console

    from lion_search.cli.after_search import funnel_table

    console = Console(record=True, width=200)
    console.print(funnel_table(record["stages"][0]))
    table = console.export_text()
    assert "retune of lion: passes" in table and "new structure: out" in table


def test_show_run_and_the_end_of_run_summary_say_how_the_best_relates(tmp_path_factory, capsys):
    from lion_search.cli.evolve import _print_outcome
    from tests.conftest import small_run

    folder = small_run(tmp_path_factory)
    assert main(["show", str(folder), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    best = summary["best"]["relation"]
    assert best["kind"] in ("retune", "new structure") and best["headline"]
    assert all(row["relation"]["label"] for row in summary["top"])
    assert main(["show", str(folder)]) == 0
    assert best["headline"] in capsys.readouterr().out
    _print_outcome(folder, "finished")
    out = capsys.readouterr().out
    assert f":best (#{summary['best']['id']}) is {best['headline']}" in out
    assert summary["top"][0]["relation"]["label"][:12] in out   # the table's relation column


@pytest.mark.parametrize("framework", ["optax", "torch"])
def test_exported_modules_say_retune_or_new_structure(tmp_path, framework):
    if framework == "torch":
        pytest.importorskip("torch")
        from lion_search.export.torch_module import write_torch_module as write_module
    else:
        from lion_search.export.optax_module import write_optax_module as write_module
    retune = write_module(substitute(ADAMW, {"b1": 0.5297, "b2": 0.95}), tmp_path / "b1.py")
    assert retune.read_text().startswith('"""adamw with b1 0.9 -> 0.5297, b2 0.999 -> 0.95: ')
    new = write_module(parse_program(TANH_V), tmp_path / "tanh_v.py").read_text()
    assert new.startswith('"""adamw: new structure (nearest seed adamw, 1 instruction differs)')
    assert "new structure (nearest seed adamw, 1 instruction differs)" in new
    assert "    -    v = interp(square(g), v, 0.999)\n    +    v = interp(tanh(g), v, 0.999)" in new
    assert read_program(tmp_path / "tanh_v.py") == parse_program(TANH_V)   # still reads back
