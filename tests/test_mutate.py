"""Mutations: every child is valid, canonical and new; each kind works; draws are reproducible."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lion_search.language.edits import accept, prune_dead_temps, statements
from lion_search.language.library import seed_names
from lion_search.language.parser import normalize, parse_program
from lion_search.language.program import Instr, Program, print_program
from lion_search.language.shapes import plan_for
from lion_search.language.validate import Limits, check
from lion_search.runs.references import load_program
from lion_search.search.mutate import (
    MUTATIONS,
    STATIC_CONDITIONS,
    Mutation,
    MutationWeights,
    add_slot,
    delete,
    mutate,
    remove_slot,
    swap,
)

SEEDS = {name: load_program(name) for name in seed_names()}
LIMITS = Limits(max_length=max(len(p) for p in SEEDS.values()) + 4,
                max_memory=max(p.slots for p in SEEDS.values()) + 1)
KINDS = tuple(MUTATIONS)


def only(kind: str) -> MutationWeights:
    """Weights that enable one mutation kind."""
    return MutationWeights(**{k: float(k == kind) for k in KINDS})


def assert_good_child(parent, mutation: Mutation, limits: Limits = LIMITS) -> None:
    child = mutation.program
    assert check(child, limits) is None
    assert parse_program(print_program(child)) == child
    assert child != normalize(parent)
    assert mutation.kind in KINDS
    assert mutation.detail and "\n" not in mutation.detail


def test_weights_name_every_mutation():
    assert KINDS == ("insert", "delete", "change_arg", "change_op", "perturb_constant", "swap",
                     "add_slot", "remove_slot", "static_branch")
    weights = MutationWeights()
    assert (weights.swap, weights.add_slot, weights.remove_slot, weights.static_branch) == (
        0.5, 0.5, 0.25, 0.25)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(SEEDS)), seed=st.integers(0, 2**32 - 1))
def test_mutation_chains_stay_valid(name, seed):
    rng = np.random.default_rng(seed)
    parent = SEEDS[name]
    for _ in range(4):
        mutation = mutate(parent, rng, limits=LIMITS)
        assert_good_child(parent, mutation)
        parent = mutation.program


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["adamw", "lion", "nadam"])
def test_each_kind_alone(kind, name):
    rng = np.random.default_rng(0)
    for _ in range(5):
        mutation = mutate(SEEDS[name], rng, weights=only(kind), limits=LIMITS)
        assert mutation.kind == kind
        assert_good_child(SEEDS[name], mutation)


def test_details_describe_the_edit():
    rng = np.random.default_rng(1)
    details = {k: mutate(SEEDS["adam"], rng, weights=only(k), limits=LIMITS).detail for k in KINDS}
    for word, kind in [("insert", "insert"), ("delete", "delete"), ("change", "change_arg"),
                       ("change op", "change_op"), ("perturb", "perturb_constant"), ("swap", "swap"),
                       ("add slot", "add_slot"), ("remove slot", "remove_slot")]:
        assert details[kind].startswith(word), details


def test_deterministic_given_the_generator_state():
    def run(seed):
        rng = np.random.default_rng(seed)
        return [mutate(SEEDS["adamw"], rng, limits=LIMITS) for _ in range(10)]
    assert run(7) == run(7)
    assert run(7) != run(8)


def test_impossible_mutations_raise():
    with pytest.raises(RuntimeError):
        mutate(SEEDS["ranger"], np.random.default_rng(0), max_tries=20)  # too long for 32
    with pytest.raises(RuntimeError):
        mutate(SEEDS["sgd"], np.random.default_rng(0), weights=only("swap"), max_tries=10)
    with pytest.raises(ValueError):
        mutate(SEEDS["sgd"], np.random.default_rng(0), weights=MutationWeights(*[0] * len(KINDS)))


def test_children_drop_the_parents_docstring():
    with_doc = parse_program('def p(w, g, lr, t):\n    "plain sgd"\n    return lr * g\n')
    child = mutate(with_doc, np.random.default_rng(0)).program
    assert child.doc == ""


def test_delete_bypasses_the_removed_value():
    adam = SEEDS["adam"]
    sqrt_at = next(i for i, ins in enumerate(adam.body) if ins.op == "sqrt")
    child, detail = delete(adam, FixedIndex(sqrt_at))
    assert detail == f"delete {adam.body[sqrt_at].dst} = sqrt(v_hat) at {sqrt_at}, reading v_hat instead"
    assert "return lr * m_hat / (v_hat + 1e-8), m, v" in str(normalize(child))


def test_delete_of_a_reassignment_reads_the_older_value():
    lion = SEEDS["lion"]
    child, _ = delete(lion, FixedIndex(1))  # m = interp(g, m, 0.99): later reads see the slot
    assert check(child) is None
    assert "return lr * (sign(c) + 0.001 * w), m" in str(normalize(child))


def test_swap_moves_whole_statements():
    lion = SEEDS["lion"]
    assert statements(lion) == [(0, 1), (1, 2)]
    child, _ = swap(lion, np.random.default_rng(0))
    assert str(normalize(child)).splitlines()[1:3] == ["    m = interp(g, m, 0.99)",
                                                       "    c = interp(g, m, 0.9)"]


def test_orphaned_temporaries_are_dropped():
    dead = Program("p", (), (Instr("_1", "sign", ("g",)), Instr("_2", "mul", ("lr", "g"))), ("_2",))
    assert prune_dead_temps(dead).body == dead.body[1:]


def random_program(rng: np.random.Generator, name: str, steps: int) -> Program:
    """A seed after `steps` random mutations: the programs a search meets."""
    program = SEEDS[name]
    for _ in range(steps):
        program = mutate(program, rng, limits=LIMITS).program
    return program


def update_reads(program: Program, name: str) -> bool:
    """Whether the update depends on the value `name` holds on entry (forward taint)."""
    tainted = {name}
    for ins in program.body:
        if any(a in tainted for a in ins.args if isinstance(a, str)):
            tainted.add(ins.dst)
        else:
            tainted.discard(ins.dst)
    return program.outputs[0] in tainted


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(SEEDS)), seed=st.integers(0, 2**32 - 1), steps=st.integers(0, 3))
def test_add_slot_children_have_one_more_slot_that_the_update_reads(name, seed, steps):
    rng = np.random.default_rng(seed)
    parent = random_program(rng, name, steps)
    edit = add_slot(parent, rng)
    assert edit is not None  # the update itself can always read the new slot
    child = accept(parent, edit[0], LIMITS)
    assume(child is not None)  # over a limit, or the update lost its dependence on g
    assert check(child, LIMITS) is None
    assert parse_program(print_program(child)) == child
    assert child.slots == parent.slots + 1
    assert child.memory[:-1] == parent.memory and child.outputs[child.slots] == child.memory[-1]
    assert update_reads(child, child.memory[-1]), edit[1]


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(SEEDS)), seed=st.integers(0, 2**32 - 1), steps=st.integers(0, 3))
def test_remove_slot_children_have_one_slot_less(name, seed, steps):
    rng = np.random.default_rng(seed)
    parent = random_program(rng, name, steps)
    edit = remove_slot(parent, rng)
    if not parent.memory:
        assert edit is None
        return
    child = accept(parent, edit[0], LIMITS)
    assume(child is not None)  # e.g. the removed slot carried the update's only path from g
    assert check(child, LIMITS) is None
    assert parse_program(print_program(child)) == child
    assert child.slots == parent.slots - 1


def test_add_slot_finds_momentum_from_sgd():
    rng = np.random.default_rng(0)
    children = [mutate(SEEDS["sgd"], rng, weights=only("add_slot"), limits=LIMITS).program
                for _ in range(200)]
    assert all(c.memory == ("m1",) and update_reads(c, "m1") for c in children)
    texts = {str(c) for c in children}
    assert "def sgd(w, g, lr, t, m1):\n    m1 = m1 * 0.9 + g\n    return lr * m1, m1\n" in texts
    assert "def sgd(w, g, lr, t, m1):\n    m1 = interp(g, m1, 0.9)\n    return lr * m1, m1\n" in texts


def test_remove_slot_turns_momentum_into_sgd():
    rng = np.random.default_rng(0)
    children = [mutate(SEEDS["momentum"], rng, weights=only("remove_slot"), limits=LIMITS).program
                for _ in range(20)]
    assert all(c.slots == 0 for c in children)
    assert {str(c) for c in children} == {"def momentum(w, g, lr, t):\n    return lr * g\n"}


def test_remove_slot_reads_zero_for_the_old_value():
    child, detail = remove_slot(SEEDS["lion"], FixedIndex(0))  # the slot m; its write reads g instead
    assert detail == "remove slot m, m = interp(g, m, 0.99) -> g"
    assert str(normalize(child)) == ("def lion(w, g, lr, t):\n    c = interp(g, 0, 0.9)\n"
                                     "    return lr * (sign(c) + 0.001 * w)\n")


def test_no_slot_beyond_max_memory():
    rng = np.random.default_rng(0)
    limits = Limits(max_length=LIMITS.max_length, max_memory=0)
    program, kinds = SEEDS["sgd"], set()
    for _ in range(300):
        mutation = mutate(program, rng, limits=limits)
        assert mutation.program.slots == 0
        kinds.add(mutation.kind)
        program = mutation.program
    assert "add_slot" not in kinds


class FixedIndex:
    """A stand-in generator whose integers() returns a chosen index, then 0."""

    def __init__(self, index: int):
        self.values = [index]

    def integers(self, n: int) -> int:
        return self.values.pop(0) if self.values else 0


def test_mutations_reach_the_shape_aware_ops_and_inputs():
    """Inserted instructions and changed arguments draw from every op and input, the
    shape-aware ones (row_mean, col_mean, orthogonalize, cos, sin; rank, fan_in, fan_out, T)
    included, so a search can reach Adafactor- and Muon-like programs."""
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        child = mutate(SEEDS["adamw"], rng, weights=only("insert"), limits=LIMITS).program
        seen |= {ins.op for ins in child.body} | {a for ins in child.body for a in ins.args
                                                  if isinstance(a, str)}
    assert {"row_mean", "col_mean", "orthogonalize", "cos", "sin"} <= seen
    assert {"rank", "fan_in", "fan_out", "T"} <= seen


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(SEEDS)), seed=st.integers(0, 2**32 - 1))
def test_static_branch_treats_kinds_of_tensor_apart(name, seed):
    """The child reads a where on a static condition of STATIC_CONDITIONS where the parent read
    one value: on a pytree of both kinds of matrix, a vector and a kernel, some tensor takes a
    branch of it by its facts alone (the plan), the other branch not computed there."""
    mutation = mutate(SEEDS[name], np.random.default_rng(seed), weights=only("static_branch"),
                      limits=LIMITS)
    assert_good_child(SEEDS[name], mutation)
    assert mutation.kind == "static_branch"
    assert any(f"where({text}," in mutation.detail for text, _ in STATIC_CONDITIONS)
    plan = plan_for(mutation.program, ((140, 130), (20, 12), (12,), (3, 3, 8)))
    assert any(mode > 0 for modes in plan.modes for mode in modes)
