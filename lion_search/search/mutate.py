"""Mutations for regularized evolution: random local edits of a program's IR.

`mutate` picks a mutation kind with probability proportional to its weight, applies it at a
random site, and keeps the child only if it normalizes (parse(print(child)) == child), passes
`validate.check` and differs from the parent; otherwise it draws again (up to `max_tries`).
The kinds:

  insert            a random instruction `dst = op(args)` at a random position; the args are
                    names set at that point or constants, dst a fresh name or an existing one
  delete            remove one instruction; reads of its value that nothing else sets are
                    bypassed: they read one of its arguments instead (delete `_1 = sqrt(v)`
                    from `u = m / (_1 + eps)` and get `u = m / (v + eps)`)
  change_arg        replace one argument of one instruction, or one output, by another name
                    set at that point or a constant
  change_op         replace an instruction's op by another; args are dropped or drawn to fit
  perturb_constant  c -> c * 2 ** z with z ~ N(0, 1), rounded to 4 significant digits
  swap              exchange two statements: a statement is an instruction that writes a
                    named variable together with the temporaries folded into it (swapping
                    single instructions of a normalized program mostly gives back the parent
                    after normalization, or reads a temporary before it is set)
  add_slot          a new memory slot s (m1, m2, ...; it starts at zero like every slot): one
                    tensor-valued read that feeds the update (an argument, or the update
                    itself) reads s instead, so that the slot matters, and s is updated at a
                    random position before that read from a tensor x set there (g half the
                    time): `s = interp(x, s, c)` or `s = s * c + x`, c in SLOT_DECAYS
  remove_slot       drop one memory slot and its output; each write of it is deleted as
                    `delete` does (later reads take one of its other arguments, or 0), and
                    reads of its old value read 0.0 (an absent slot is zero)
  static_branch     one tensor-valued read that feeds the update reads where(c, x, y) (or
                    where(c, y, x)) instead of x, c a condition of STATIC_CONDITIONS on the
                    tensor's rank, fan_in and fan_out (static per tensor, so each tensor takes
                    one branch and stores only the state its branch reads) and y a name set
                    there or a constant: a rule per kind of tensor, as Muon and Adafactor have

After an edit, temporaries that nothing reads any more are dropped (they are the orphaned parts
of an expression; named variables stay, dead or not, and later mutations may read them again).
Every random choice comes from the numpy Generator passed in, so a mutation is a deterministic
function of the generator's state (no set iteration order or global randomness involved).
"""
from __future__ import annotations

from dataclasses import astuple, dataclass, fields, replace
from typing import Callable, NamedTuple

import numpy as np

from lion_search.language.edits import (
    accept,
    arg_text,
    bypass,
    defined_before,
    describe,
    feeds_update,
    fresh_name,
    replace_instr,
    round_significant,
    shapes_before,
    statements,
)
from lion_search.language.ops import OPS, Shape
from lion_search.language.parser import normalize
from lion_search.language.program import Arg, Instr, Program, format_constant
from lion_search.language.validate import Limits

# Constants an inserted or changed argument draws from (else log-uniform, see `random_constant`).
USEFUL_CONSTANTS: tuple[float, ...] = (0.0, 0.5, 0.9, 0.99, 0.999, 1.0, 2.0, -1.0, 1e-3, 1e-8)
P_CONSTANT_ARG = 0.2    # probability that a drawn argument is a constant rather than a name
P_USEFUL_CONSTANT = 0.75  # probability that a drawn constant comes from USEFUL_CONSTANTS
P_FRESH_DST = 0.5       # probability that an inserted instruction writes a fresh name
SLOT_DECAYS: tuple[float, ...] = (0.9, 0.99, 0.999, 0.5)  # the c of a new slot's update
P_SLOT_READS_G = 0.5    # probability that a new slot accumulates g (else any tensor set there)
P_SLOT_INTERP = 0.5     # probability of s = interp(x, s, c) (an EMA) rather than s = s * c + x
# The conditions `static_branch` inserts: (text, steps), each step (op, args) an instruction
# whose argument k (an int) is the result of step k: matrices and larger tensors, matrices
# alone, and tensors with both sides >= 128 (Adafactor's rule for factoring).
STATIC_CONDITIONS: tuple[tuple[str, tuple[tuple[str, tuple], ...]], ...] = (
    ("rank >= 2", (("ge", ("rank", 2.0)),)),
    ("rank == 2", (("eq", ("rank", 2.0)),)),
    ("min(fan_in, fan_out) >= 128", (("min", ("fan_in", "fan_out")), ("ge", (0, 128.0)))),
)
P_BRANCH_FIRST = 0.5    # probability that the read value is where's first branch (c != 0)
OP_NAMES: tuple[str, ...] = tuple(OPS)


@dataclass(frozen=True)
class MutationWeights:
    """Relative frequency of each mutation kind (a weight of 0 disables a kind).

    The slot mutations are rarer than the local edits: each is a large step (a new state, or
    a lost one), and most removals break the update (e.g. it no longer depends on g), so a
    higher weight would mostly spend draws; add_slot is twice remove_slot so that a search
    from a memoryless seed finds state at a useful rate. static_branch, as large a step as
    remove_slot, is as rare.
    """

    insert: float = 1.0
    delete: float = 1.0
    change_arg: float = 1.0
    change_op: float = 1.0
    perturb_constant: float = 1.0
    swap: float = 0.5
    add_slot: float = 0.5
    remove_slot: float = 0.25
    static_branch: float = 0.25


class Mutation(NamedTuple):
    """A child program (normalized and valid), the kind of mutation, and what it did."""

    program: Program
    kind: str
    detail: str


Edit = tuple[Program, str]  # an unnormalized child and a one-line description


def mutate(program: Program, rng: np.random.Generator, weights: MutationWeights = MutationWeights(),
           limits: Limits = Limits(), max_tries: int = 100) -> Mutation:
    """A random valid child of `program` that differs from it; RuntimeError after max_tries misses."""
    parent = normalize(replace(program, doc=""))
    kinds = [f.name for f in fields(MutationWeights)]
    p = np.asarray(astuple(weights), dtype=float)
    if p.sum() <= 0 or (p < 0).any():
        raise ValueError(f"mutation weights must be >= 0 with a positive sum, got {weights}")
    p = p / p.sum()
    for _ in range(max_tries):
        kind = kinds[rng.choice(len(kinds), p=p)]
        edit = MUTATIONS[kind](parent, rng)
        if edit is None:
            continue
        child = accept(parent, edit[0], limits)
        if child is not None:
            return Mutation(child, kind, edit[1])
    raise RuntimeError(f"no valid mutation of {program.name!r} found in {max_tries} tries")


def mutate_anew(program: Program, rng: np.random.Generator, weights: MutationWeights,
                limits: Limits, seen: Callable[[Program], bool], most: int
                ) -> tuple[Mutation, int]:
    """A mutant of `program`, mutated again while `seen` (equivalent to a program the search
    has), at most `most` times; with the number of such equivalents passed over. Its kind is
    the first mutation's, its detail every step's."""
    child = mutate(program, rng, weights, limits)
    equivalents = 0
    while equivalents < most and seen(child.program):
        equivalents += 1
        again = mutate(child.program, rng, weights, limits)
        child = Mutation(again.program, child.kind,
                         f"{child.detail}; then {again.kind}: {again.detail}")
    return child, equivalents


def random_constant(rng: np.random.Generator) -> float:
    """A constant from USEFUL_CONSTANTS, or 10 ** u with u ~ U(-4, 1) at 3 significant digits."""
    if rng.random() < P_USEFUL_CONSTANT:
        return USEFUL_CONSTANTS[rng.integers(len(USEFUL_CONSTANTS))]
    return round_significant(10.0 ** rng.uniform(-4.0, 1.0), 3)


def random_arg(names: list[str], rng: np.random.Generator) -> Arg:
    """A name from `names`, or (with probability P_CONSTANT_ARG) a random constant."""
    if rng.random() < P_CONSTANT_ARG:
        return random_constant(rng)
    return names[rng.integers(len(names))]


# ------------------------------------------------------------------------------ the mutations

def insert(program: Program, rng: np.random.Generator) -> Edit | None:
    """Insert `dst = op(args)` at a random position; args drawn from the names set there."""
    index = int(rng.integers(len(program.body) + 1))
    names = defined_before(program, index)
    op = OP_NAMES[rng.integers(len(OP_NAMES))]
    args = tuple(random_arg(names, rng) for _ in range(OPS[op].arity))
    dst = fresh_name(program) if rng.random() < P_FRESH_DST else names[rng.integers(len(names))]
    ins = Instr(dst, op, args)
    body = program.body[:index] + (ins,) + program.body[index:]
    return replace(program, body=body), f"insert {describe(ins)} at {index}"


def delete(program: Program, rng: np.random.Generator) -> Edit | None:
    """Remove one instruction; if its dst was not set before it, the reads of the removed value
    (up to the next write of dst, outputs included) read one of its arguments instead."""
    if not program.body:
        return None
    index = int(rng.integers(len(program.body)))
    ins = program.body[index]
    detail = f"delete {describe(ins)} at {index}"
    after, outputs = program.body[index + 1:], program.outputs
    if ins.dst not in defined_before(program, index):
        value = ins.args[rng.integers(len(ins.args))]
        after, outputs = bypass(after, outputs, ins.dst, value)
        detail += f", reading {arg_text(value)} instead"
    return replace(program, body=program.body[:index] + after, outputs=outputs), detail


def change_arg(program: Program, rng: np.random.Generator) -> Edit | None:
    """Replace one argument of one instruction (or one output) by a name set there or a constant."""
    sites = [(i, j) for i, ins in enumerate(program.body) for j in range(len(ins.args))]
    sites += [(len(program.body), j) for j in range(len(program.outputs))]
    i, j = sites[rng.integers(len(sites))]
    new = random_arg(defined_before(program, i), rng)
    if i == len(program.body):
        old = program.outputs[j]
        outputs = program.outputs[:j] + (new,) + program.outputs[j + 1:]
        return replace(program, outputs=outputs), f"change output {j}: {arg_text(old)} -> {arg_text(new)}"
    ins = program.body[i]
    changed = replace(ins, args=ins.args[:j] + (new,) + ins.args[j + 1:])
    return replace_instr(program, i, changed), f"change arg {j} of {describe(ins)} at {i} to {arg_text(new)}"


def change_op(program: Program, rng: np.random.Generator) -> Edit | None:
    """Replace an instruction's op by another, dropping surplus args or drawing missing ones."""
    if not program.body:
        return None
    i = int(rng.integers(len(program.body)))
    ins = program.body[i]
    others = [op for op in OP_NAMES if op != ins.op]
    op = others[rng.integers(len(others))]
    names = defined_before(program, i)
    extra = tuple(random_arg(names, rng) for _ in range(OPS[op].arity - len(ins.args)))
    changed = Instr(ins.dst, op, (ins.args + extra)[:OPS[op].arity])
    return replace_instr(program, i, changed), f"change op at {i}: {describe(ins)} -> {describe(changed)}"


def perturb_constant(program: Program, rng: np.random.Generator) -> Edit | None:
    """Multiply one constant by 2 ** z, z ~ N(0, 1) (rounded to 4 significant digits)."""
    sites = [(i, j) for i, ins in enumerate(program.body) for j, a in enumerate(ins.args)
             if not isinstance(a, str)]
    sites += [(len(program.body), j) for j, a in enumerate(program.outputs) if not isinstance(a, str)]
    if not sites:
        return None
    i, j = sites[rng.integers(len(sites))]
    args = program.outputs if i == len(program.body) else program.body[i].args
    old = args[j]
    new = round_significant(old * 2.0 ** rng.normal(), 4)
    args = args[:j] + (new,) + args[j + 1:]
    detail = f"perturb {format_constant(old)} -> {format_constant(new)}"
    if i == len(program.body):
        return replace(program, outputs=args), f"{detail} in output {j}"
    ins = program.body[i]
    return replace_instr(program, i, replace(ins, args=args)), f"{detail} in {describe(ins)} at {i}"


def swap(program: Program, rng: np.random.Generator) -> Edit | None:
    """Exchange two statements (see `statements`), each with its temporaries."""
    blocks = statements(program)
    if len(blocks) < 2:
        return None
    i, j = sorted(int(k) for k in rng.choice(len(blocks), size=2, replace=False))
    (a0, a1), (b0, b1) = blocks[i], blocks[j]
    body = program.body
    body = body[:a0] + body[b0:b1] + body[a1:b0] + body[a0:a1] + body[b1:]
    return (replace(program, body=body),
            f"swap statements {describe(program.body[a1 - 1])} and {describe(program.body[b1 - 1])}")


def add_slot(program: Program, rng: np.random.Generator) -> Edit | None:
    """A new memory slot s whose new value one tensor-valued read that feeds the update (an
    argument of an instruction, or the update itself) reads instead; s is updated at a random
    position i before that read, from a tensor x set at i: `s = interp(x, s, c)` or
    `s = s * c + x`."""
    readers = tensor_reads(program)
    if not readers:
        return None
    i, j = readers[rng.integers(len(readers))]
    index = int(rng.integers(i + 1))
    tensors = [name for name, shape in shapes_before(program, index).items() if shape is Shape.TENSOR]
    if not tensors:  # only in a program whose update is not a tensor
        return None
    slot = fresh_name(program, "m")
    x = "g" if "g" in tensors and rng.random() < P_SLOT_READS_G else tensors[rng.integers(len(tensors))]
    c = SLOT_DECAYS[rng.integers(len(SLOT_DECAYS))]
    if rng.random() < P_SLOT_INTERP:
        update: tuple[Instr, ...] = (Instr(slot, "interp", (x, slot, c)),)
        text = f"{slot} = interp({x}, {slot}, {format_constant(c)})"
    else:  # through a temporary, which normalization folds into one statement
        temp = fresh_name(program, "_")
        update = (Instr(temp, "mul", (slot, c)), Instr(slot, "add", (temp, x)))
        text = f"{slot} = {slot} * {format_constant(c)} + {x}"
    read, reader = read_instead(program, i, j, slot)
    body = list(read.body)
    body[index:index] = update
    memory_end = 1 + program.slots  # the evaluation weights, if any, stay last
    child = replace(program, memory=program.memory + (slot,), body=tuple(body),
                    outputs=read.outputs[:memory_end] + (slot,) + read.outputs[memory_end:])
    return child, f"add slot {text} at {index}, read by {reader}"


def tensor_reads(program: Program) -> list[tuple[int, int]]:
    """The tensor-valued reads that feed the update: (instruction, argument) of each, and
    (len(body), 0) for the update itself."""
    readers = [(len(program.body), 0)] if isinstance(program.outputs[0], str) else []
    for i, feeds in enumerate(feeds_update(program)):
        if feeds:
            at = shapes_before(program, i)
            readers += [(i, j) for j, a in enumerate(program.body[i].args)
                        if isinstance(a, str) and at[a] is Shape.TENSOR]
    return readers


def read_instead(program: Program, i: int, j: int, name: Arg) -> tuple[Program, str]:
    """(the program with argument j of instruction i, or the update for i = len(body), reading
    `name` instead, a description of that reader)."""
    if i == len(program.body):
        return replace(program, outputs=(name,) + program.outputs[1:]), "the update"
    ins = program.body[i]
    changed = replace(ins, args=ins.args[:j] + (name,) + ins.args[j + 1:])
    return replace_instr(program, i, changed), describe(changed)


def static_branch(program: Program, rng: np.random.Generator) -> Edit | None:
    """One tensor-valued read x that feeds the update (an argument, or the update itself) reads
    where(c, x, y) or where(c, y, x) instead, c a condition of STATIC_CONDITIONS (computed
    just before the read) and y a name set there or a constant."""
    readers = tensor_reads(program)
    if not readers:
        return None
    i, j = readers[rng.integers(len(readers))]
    x = program.outputs[0] if i == len(program.body) else program.body[i].args[j]
    y = random_arg(defined_before(program, i), rng)
    if y == x:
        return None
    text, steps = STATIC_CONDITIONS[rng.integers(len(STATIC_CONDITIONS))]
    new: list[Instr] = []
    for op, args in steps + (("where", (len(steps) - 1,) + ((x, y) if rng.random()
                                                             < P_BRANCH_FIRST else (y, x))),):
        dst = fresh_name(replace(program, body=program.body + tuple(new)), "_")
        new.append(Instr(dst, op, tuple(new[a].dst if isinstance(a, int) else a for a in args)))
    read, reader = read_instead(program, i, j, new[-1].dst)
    child = replace(read, body=read.body[:i] + tuple(new) + read.body[i:])
    first, second = (arg_text(a) for a in new[-1].args[1:])
    return child, f"static branch where({text}, {first}, {second}) read by {reader}"




def remove_slot(program: Program, rng: np.random.Generator) -> Edit | None:
    """Drop one memory slot and its output: reads of its old value read 0.0, and each write of
    it is deleted, later reads taking one of the write's other arguments (0.0 if none)."""
    if not program.memory:
        return None
    k = int(rng.integers(len(program.memory)))
    slot = program.memory[k]
    value: Arg = 0.0  # what a read of the slot means at this point
    body, bypassed = [], []
    for ins in program.body:
        args = tuple(value if a == slot else a for a in ins.args)
        if ins.dst != slot:
            body.append(replace(ins, args=args))
            continue
        others = [a for a in ins.args if a != slot]
        value = others[rng.integers(len(others))] if others else 0.0
        bypassed.append(f"{describe(ins)} -> {arg_text(value)}")
    outputs = tuple(value if a == slot else a
                    for n, a in enumerate(program.outputs) if n != 1 + k)
    memory = program.memory[:k] + program.memory[k + 1:]
    detail = f"remove slot {slot}" + "".join(f", {b}" for b in bypassed)
    return replace(program, memory=memory, body=tuple(body), outputs=outputs), detail


MUTATIONS: dict[str, Callable[[Program, np.random.Generator], Edit | None]] = {
    "insert": insert, "delete": delete, "change_arg": change_arg, "change_op": change_op,
    "perturb_constant": perturb_constant, "swap": swap, "add_slot": add_slot,
    "remove_slot": remove_slot, "static_branch": static_branch,
}
