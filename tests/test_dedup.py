"""Deduplication: equivalent programs share keys, different optimizers do not."""
import numpy as np
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from lion_search.analysis.dedup import (
    DedupCache,
    dataflow_hash,
    facts_runs,
    fingerprint,
    tasks_runs,
)
from lion_search.evaluation.tasks import tensor_facts_of
from lion_search.language.library import seed_names
from lion_search.language.parser import normalize, parse_program
from lion_search.language.program import Instr, Program, is_temp
from lion_search.language.validate import Limits
from lion_search.runs.references import load_program
from lion_search.search.mutate import MutationWeights, mutate

SEEDS = {name: load_program(name) for name in seed_names()}

ADAM = str(SEEDS["adam"])
EQUIVALENT_TO_ADAM = {
    "renamed": """
def other(w, g, lr, t, mom, sq):
    mom = interp(g, mom, 0.9)
    sq = interp(square(g), sq, 0.999)
    a = mom / (1 - 0.9 ** t)
    b = sq / (1 - 0.999 ** t)
    return lr * a / (sqrt(b) + 1e-8), mom, sq
""",
    "dead code": """
def adam(w, g, lr, t, m, v):
    junk = exp(g) * w
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    m_hat = m / (1 - 0.9 ** t)
    v_hat = v / (1 - 0.999 ** t)
    junk = sign(m_hat)
    return lr * m_hat / (sqrt(v_hat) + 1e-8), m, v
""",
    "commuted": """
def adam(w, g, lr, t, m, v):
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    m_hat = m / (1 - 0.9 ** t)
    v_hat = v / (1 - 0.999 ** t)
    return m_hat * lr / (1e-8 + sqrt(v_hat)), m, v
""",
    "reordered": """
def adam(w, g, lr, t, m, v):
    v = interp(square(g), v, 0.999)
    v_hat = v / (1 - 0.999 ** t)
    m = interp(g, m, 0.9)
    m_hat = m / (1 - 0.9 ** t)
    return lr * m_hat / (sqrt(v_hat) + 1e-8), m, v
""",
    "copies": """
def adam(w, g, lr, t, m, v):
    grad = g
    m = interp(grad, m, 0.9)
    v = interp(square(grad), v, 0.999)
    m_hat = m / (1 - 0.9 ** t)
    v_hat = v / (1 - 0.999 ** t)
    u = lr * m_hat / (sqrt(v_hat) + 1e-8)
    return u, m, v
""",
}
# Equal as functions but not as expression DAGs: only the fingerprint sees these.
ALGEBRAIC_PAIRS = {
    "x + x = 2 * x": ("return lr * (g + g)", "return lr * (2 * g)"),
    "sqrt(x * x) = abs(x)": ("return lr * sqrt(g * g) * sign(g)", "return lr * abs(g) * sign(g)"),
    "a - b = a + (-b)": ("return lr * (g - w)", "return lr * (g + -w)"),
}
DIFFERENT_PAIRS = {
    "adam vs adamw": (SEEDS["adam"], SEEDS["adamw"]),
    "lion 0.9 vs 0.8": (SEEDS["lion"], parse_program(
        str(SEEDS["lion"]).replace("interp(g, m, 0.9)", "interp(g, m, 0.8)"))),
    "lr vs the constant 0.01": (parse_program("def p(w, g, lr, t):\n    return lr * sign(g)\n"),
                                parse_program("def p(w, g, lr, t):\n    return 0.01 * sign(g)\n")),
    "lookahead every 5 vs every 6 steps": (SEEDS["lookahead"], parse_program(
        str(SEEDS["lookahead"]).replace("t % 5 == 0", "t % 6 == 0"))),
    # A search found AdamW with sqrt(v) - 1e-8: perturbing the epsilon to 8.808e-9 moved its
    # fitness from -0.286 to -0.117, and with O(1) fingerprint inputs the two had one key.
    "epsilon 1e-8 vs 8.808e-9": (SEEDS["adam"], parse_program(
        str(SEEDS["adam"]).replace("1e-08", "8.808e-09").replace("1e-8", "8.808e-9"))),
    "epsilon -1e-8 vs -8.808e-9": (
        parse_program(str(SEEDS["adam"]).replace("+ 1e-08", "- 1e-08").replace("+ 1e-8", "- 1e-8")),
        parse_program(str(SEEDS["adam"]).replace("+ 1e-08", "- 8.808e-09")
                      .replace("+ 1e-8", "- 8.808e-9"))),
}


def sgd_like(line: str) -> Program:
    return parse_program(f"def p(w, g, lr, t):\n    {line}\n")


@pytest.mark.parametrize("variant", sorted(EQUIVALENT_TO_ADAM))
def test_equivalent_programs_share_both_keys(variant):
    adam, other = parse_program(ADAM), parse_program(EQUIVALENT_TO_ADAM[variant])
    assert adam != other
    assert dataflow_hash(other) == dataflow_hash(adam)
    assert fingerprint(other) == fingerprint(adam)


@pytest.mark.parametrize("pair", sorted(ALGEBRAIC_PAIRS))
def test_algebraically_equal_programs_share_the_fingerprint(pair):
    a, b = (sgd_like(line) for line in ALGEBRAIC_PAIRS[pair])
    assert dataflow_hash(a) != dataflow_hash(b)
    assert fingerprint(a) == fingerprint(b)


@pytest.mark.parametrize("pair", sorted(DIFFERENT_PAIRS))
def test_different_programs_differ(pair):
    a, b = DIFFERENT_PAIRS[pair]
    assert dataflow_hash(a) != dataflow_hash(b)
    assert fingerprint(a) != fingerprint(b)


def test_all_seeds_pairwise_distinct():
    hashes = [dataflow_hash(p) for p in SEEDS.values()]
    prints = [fingerprint(p) for p in SEEDS.values()]
    assert len(set(hashes)) == len(set(prints)) == len(SEEDS)


def test_keys_are_hex_and_deterministic():
    for key in (dataflow_hash(SEEDS["lion"]), fingerprint(SEEDS["lion"])):
        int(key, 16)
    assert fingerprint(SEEDS["adam"], steps=2) != fingerprint(SEEDS["adam"])
    assert fingerprint(SEEDS["adam"]) == fingerprint(load_program("adam"))
    with pytest.raises(ValueError):
        fingerprint(SEEDS["adam"], steps=0)


def test_fingerprint_of_overflowing_programs():
    """Inf and NaN are tokens: programs that overflow at the same entries collide."""
    overflow = sgd_like("return lr * g * 1e30 * 1e30")
    assert fingerprint(overflow) == fingerprint(sgd_like("return lr * g * 1e30 * 2e30"))
    assert fingerprint(overflow) != fingerprint(sgd_like("return lr * g"))
    assert fingerprint(overflow) != fingerprint(sgd_like("return -lr * g * 1e30 * 1e30"))


def renamed(program: Program) -> Program:
    """The program with every non-input, non-temporary name (and memory slot) renamed."""
    names = [*program.memory, *(i.dst for i in program.body)]
    mapping = {n: f"r_{n}" for n in names if not is_temp(n) and n not in ("w", "g", "lr", "t")}

    def rename(a):
        return mapping.get(a, a) if isinstance(a, str) else a

    body = tuple(Instr(rename(i.dst), i.op, tuple(map(rename, i.args))) for i in program.body)
    return normalize(Program(program.name, tuple(map(rename, program.memory)), body,
                             tuple(map(rename, program.outputs))))


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(["adamw", "lion", "nadam", "rmsprop"]), seed=st.integers(0, 2**32 - 1))
def test_hash_ignores_names_of_mutants(name, seed):
    child = mutate(SEEDS[name], np.random.default_rng(seed), limits=Limits(max_length=40)).program
    assert dataflow_hash(renamed(child)) == dataflow_hash(child)


def test_cache_counts_hits():
    cache = DedupCache()
    adam = parse_program(ADAM)
    assert cache.lookup(adam) is None
    cache.add(adam, 1.5)
    assert cache.lookup(parse_program(EQUIVALENT_TO_ADAM["renamed"])) == 1.5  # hash hit
    assert cache.lookup(SEEDS["lion"]) is None
    plus, times = (sgd_like(line) for line in ALGEBRAIC_PAIRS["x + x = 2 * x"])
    keys = cache.keys(plus)
    assert cache.lookup_keys(keys) is None
    cache.add_keys(keys, 0.25)
    assert cache.lookup(times) == 0.25  # fingerprint hit
    assert (cache.hits, cache.lookups) == (2, 5)
    assert cache.hit_rate == pytest.approx(0.4)
    assert DedupCache().hit_rate == 0.0


def test_cache_keeps_each_programs_fitness():
    cache = DedupCache()
    programs = [SEEDS[n] for n in ("sgd", "momentum", "lion")]
    for fitness, p in enumerate(programs):
        cache.add(p, float(fitness))
    assert [cache.lookup(p) for p in programs] == [0.0, 1.0, 2.0]


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(["adamw", "lion", "nadam", "rmsprop"]), seed=st.integers(0, 2**32 - 1))
def test_equal_hashes_mean_equal_fingerprints(name, seed):
    """Swapping statements changes the hash exactly when the computation changes."""
    rng = np.random.default_rng(seed)
    parent = mutate(SEEDS[name], rng, limits=Limits(max_length=40)).program
    try:
        child = mutate(parent, rng, weights=MutationWeights(*[0] * 5, swap=1, add_slot=0, remove_slot=0,
                                                        static_branch=0),
                       limits=Limits(max_length=40)).program
    except RuntimeError:  # no valid swap: too few statements, or every swap breaks data flow
        reject()
    if dataflow_hash(child) == dataflow_hash(parent):
        assert fingerprint(child) == fingerprint(parent)


MUON_V_ON_ITS_BRANCH = """def muon(w, g, lr, t, m, v):
    matrix = rank == 2
    b = where(matrix, 0.95, 0.9)
    m = interp(g, m, b)
    v = where(matrix, v, interp(square(g), v, 0.999))
    m_hat = b * (m / (1 - b ** (t + 1))) + (1 - b) * (g / (1 - b ** t))
    adam = m_hat / (sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    ortho = orthogonalize(m_hat) * sqrt(max(fan_out / fan_in, 1))
    return lr * where(matrix, ortho, adam), m, v
"""


def test_fingerprints_see_the_state_a_program_keeps():
    """Muon updating its Adam moment on every tensor or on the non-matrices alone keeps the
    same state (matrices never read it) and steps alike: one fingerprint. An unread slot is no
    state at all."""
    muon = SEEDS["muon"]
    assert fingerprint(parse_program(MUON_V_ON_ITS_BRANCH)) == fingerprint(muon)
    assert dataflow_hash(parse_program(MUON_V_ON_ITS_BRANCH)) != dataflow_hash(muon)
    adam = SEEDS["adam"]
    unread = parse_program(str(adam).replace("(w, g, lr, t, m, v)", "(w, g, lr, t, m, v, s)")
                           .replace("), m, v", "), m, v, interp(g, s, 0.5)"))
    assert unread.slots == 3 and fingerprint(unread) == fingerprint(adam)


@pytest.mark.parametrize("condition", ["rank >= 3", "min(fan_in, fan_out) >= 128", "rank < 1"])
def test_fingerprints_tell_branches_apart_that_only_other_tensors_take(condition):
    """The fingerprint's leaves are a 6 x 8 matrix and a vector; its other runs declare larger
    tensors' facts, so a branch for kernels, large matrices or scalars changes the key."""
    plain = parse_program("def p(w, g, lr, t, m):\n    m = interp(g, m, 0.9)\n"
                          "    return lr * m, m\n")
    branched = parse_program(f"def p(w, g, lr, t, m):\n    m = interp(g, m, 0.9)\n"
                             f"    return lr * where({condition}, sign(m), m), m\n")
    assert fingerprint(branched) != fingerprint(plain)


@pytest.mark.parametrize("condition, tasks_that_take_it", [
    ("rank >= 3", {"digits-cnn"}),
    ("min(fan_in, fan_out) >= 128", {"digits-mlp-10x"}),
    ("rank < 1", set())])
def test_a_fingerprint_over_tasks_facts_sees_only_the_branches_their_tensors_take(
        condition, tasks_that_take_it):
    """Over the facts of one task's tensors, two programs that differ only in a branch that no
    tensor of the task takes share the key (promotion trains them alike); where one does, not."""
    plain = parse_program("def p(w, g, lr, t, m):\n    m = interp(g, m, 0.9)\n"
                          "    return lr * m, m\n")
    branched = parse_program(f"def p(w, g, lr, t, m):\n    m = interp(g, m, 0.9)\n"
                             f"    return lr * where({condition}, sign(m), m), m\n")
    for task in ("digits-mlp-10x", "digits-cnn", "text-lm-mini"):
        facts = facts_runs(tensor_facts_of(task))
        same = fingerprint(branched, facts=facts) == fingerprint(plain, facts=facts)
        assert same == (task not in tasks_that_take_it), task


def test_facts_runs_declare_each_distinct_tensor_once_two_to_a_run():
    assert facts_runs([(2, 3, 4), (1, 1, 4), (2, 3, 4)]) == (((1, 1, 4), (2, 3, 4)),)
    assert facts_runs([(1, 1, 4), (2, 3, 4), (4, 3, 8)]) == (
        ((1, 1, 4), (2, 3, 4)), ((4, 3, 8), (4, 3, 8)))
    with pytest.raises(ValueError, match="at least one"):
        facts_runs([])


def test_programs_that_differ_only_past_the_probes_length_differ():
    """`where(T >= 136.8, m, lr * m)` trains unlike `lr * m` on every task of 137 steps or
    more; a dead read of T changes no key."""
    from lion_search.analysis.dedup import fingerprint
    from lion_search.language.parser import parse_program

    body = "def p(w, g, lr, t, m):\n    m = interp(g, m, 0.9)\n"
    plain = parse_program(body + "    return lr * m, m\n")
    branched = parse_program(body + "    return where(T >= 136.8, m, lr * m), m\n")
    dead = parse_program(body + "    v = T * 2\n    return lr * m, m\n")
    assert fingerprint(branched) != fingerprint(plain)
    assert fingerprint(dead) == fingerprint(plain)


RUN_RUNS = tasks_runs(["digits-mlp-b512", "digits-mlp-10x", "digits-cnn", "text-lm-mini"])


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(["adamw", "lion", "adafactor", "muon"]), seed=st.integers(0, 2**32 - 1))
def test_a_program_that_reads_no_facts_gets_the_key_it_gets_when_every_run_is_probed(name, seed):
    """A program that reads no tensor facts (or no T) is probed once for all the runs that
    differ only in them; its key is the one it gets when it reads them, to no effect, and each
    run is probed (for T over a run's tasks' lengths: the probes' own lengths are probed only
    for a program that reads T)."""
    child = mutate(SEEDS[name], np.random.default_rng(seed), limits=Limits(max_length=40)).program
    update = child.outputs[0]

    def reading(name: str) -> Program:
        return Program(child.name, child.memory, child.body + (
            Instr("read", "ge", (name, 0.0)),
            Instr("same_update", "where", ("read", update, update))),
            ("same_update",) + child.outputs[1:])

    assert fingerprint(reading("rank")) == fingerprint(child)
    for name in ("rank", "T"):
        assert fingerprint(reading(name), runs=RUN_RUNS) == fingerprint(child, runs=RUN_RUNS)
