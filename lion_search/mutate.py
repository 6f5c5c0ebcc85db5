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

After an edit, temporaries that nothing reads any more are dropped (they are the orphaned parts
of an expression; named variables stay, dead or not, and later mutations may read them again).
Every random choice comes from the numpy Generator passed in, so a mutation is a deterministic
function of the generator's state (no set iteration order or global randomness involved).
"""
from __future__ import annotations

from dataclasses import astuple, dataclass, fields, replace
from typing import Callable, NamedTuple

import numpy as np

from lion_search.errors import ProgramError
from lion_search.language import INPUTS, Arg, Instr, Program, format_constant, is_temp, normalize
from lion_search.ops import OPS
from lion_search.validate import Limits, check

# Constants an inserted or changed argument draws from (else log-uniform, see `random_constant`).
USEFUL_CONSTANTS: tuple[float, ...] = (0.0, 0.5, 0.9, 0.99, 0.999, 1.0, 2.0, -1.0, 1e-3, 1e-8)
P_CONSTANT_ARG = 0.2    # probability that a drawn argument is a constant rather than a name
P_USEFUL_CONSTANT = 0.75  # probability that a drawn constant comes from USEFUL_CONSTANTS
P_FRESH_DST = 0.5       # probability that an inserted instruction writes a fresh name
OP_NAMES: tuple[str, ...] = tuple(OPS)


@dataclass(frozen=True)
class MutationWeights:
    """Relative frequency of each mutation kind (a weight of 0 disables a kind)."""

    insert: float = 1.0
    delete: float = 1.0
    change_arg: float = 1.0
    change_op: float = 1.0
    perturb_constant: float = 1.0
    swap: float = 0.5


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


def accept(parent: Program, raw: Program, limits: Limits) -> Program | None:
    """The normalized child if it is valid and differs from the parent, else None (also the
    acceptance test of simplification's rewrites)."""
    raw = prune_dead_temps(raw)
    if check(raw, limits) is not None:
        return None
    try:
        child = normalize(raw)
    except ProgramError:
        return None
    if child == parent or check(child, limits) is not None:
        return None
    return child


def prune_dead_temps(program: Program) -> Program:
    """Drop the instructions that write a temporary nobody reads afterwards (backward liveness)."""
    live = {a for a in program.outputs if isinstance(a, str)}
    kept: list[Instr] = []
    for ins in reversed(program.body):
        if is_temp(ins.dst) and ins.dst not in live:
            continue
        live.discard(ins.dst)
        live.update(a for a in ins.args if isinstance(a, str))
        kept.append(ins)
    return replace(program, body=tuple(reversed(kept)))


def statements(program: Program) -> list[tuple[int, int]]:
    """The [start, end) ranges of the statements: runs of temporaries ended by a named write
    (the temporaries of the return expression, after the last named write, are not included)."""
    blocks, start = [], 0
    for i, ins in enumerate(program.body):
        if not is_temp(ins.dst):
            blocks.append((start, i + 1))
            start = i + 1
    return blocks


# ------------------------------------------------------------------------------ random draws

def defined_before(program: Program, index: int) -> list[str]:
    """Names set before instruction `index` (len(body) for the outputs), in order of first set."""
    names = dict.fromkeys(INPUTS + program.memory)
    names.update(dict.fromkeys(ins.dst for ins in program.body[:index]))
    return list(names)


def random_constant(rng: np.random.Generator) -> float:
    """A constant from USEFUL_CONSTANTS, or 10 ** u with u ~ U(-4, 1) at 3 significant digits."""
    if rng.random() < P_USEFUL_CONSTANT:
        return USEFUL_CONSTANTS[rng.integers(len(USEFUL_CONSTANTS))]
    return round_significant(10.0 ** rng.uniform(-4.0, 1.0), 3)


def round_significant(x: float, digits: int) -> float:
    """x rounded to `digits` significant digits (so that printed constants stay short)."""
    return float(f"{x:.{digits - 1}e}")


def random_arg(names: list[str], rng: np.random.Generator) -> Arg:
    """A name from `names`, or (with probability P_CONSTANT_ARG) a random constant."""
    if rng.random() < P_CONSTANT_ARG:
        return random_constant(rng)
    return names[rng.integers(len(names))]


def fresh_name(program: Program) -> str:
    """The first of v1, v2, ... that the program does not use."""
    taken = set(INPUTS) | set(program.memory) | {ins.dst for ins in program.body}
    k = 1
    while f"v{k}" in taken:
        k += 1
    return f"v{k}"


def describe(ins: Instr) -> str:
    """`dst = op(a, b)` with constants written as in program text."""
    return f"{ins.dst} = {ins.op}({', '.join(_text(a) for a in ins.args)})"


def _text(a: Arg) -> str:
    return a if isinstance(a, str) else format_constant(a)


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
        detail += f", reading {_text(value)} instead"
    return replace(program, body=program.body[:index] + after, outputs=outputs), detail


def bypass(body: tuple[Instr, ...], outputs: tuple[Arg, ...], name: str, value: Arg
           ) -> tuple[tuple[Instr, ...], tuple[Arg, ...]]:
    """Replace the reads of `name` by `value` up to and including the next write of `name`."""
    def sub(args: tuple[Arg, ...]) -> tuple[Arg, ...]:
        return tuple(value if a == name else a for a in args)

    new = list(body)
    for i, ins in enumerate(body):
        new[i] = replace(ins, args=sub(ins.args))
        if ins.dst == name:
            return tuple(new), outputs
    return tuple(new), sub(outputs)


def change_arg(program: Program, rng: np.random.Generator) -> Edit | None:
    """Replace one argument of one instruction (or one output) by a name set there or a constant."""
    sites = [(i, j) for i, ins in enumerate(program.body) for j in range(len(ins.args))]
    sites += [(len(program.body), j) for j in range(len(program.outputs))]
    i, j = sites[rng.integers(len(sites))]
    new = random_arg(defined_before(program, i), rng)
    if i == len(program.body):
        old = program.outputs[j]
        outputs = program.outputs[:j] + (new,) + program.outputs[j + 1:]
        return replace(program, outputs=outputs), f"change output {j}: {_text(old)} -> {_text(new)}"
    ins = program.body[i]
    changed = replace(ins, args=ins.args[:j] + (new,) + ins.args[j + 1:])
    return _replace_instr(program, i, changed), f"change arg {j} of {describe(ins)} at {i} to {_text(new)}"


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
    return _replace_instr(program, i, changed), f"change op at {i}: {describe(ins)} -> {describe(changed)}"


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
    return _replace_instr(program, i, replace(ins, args=args)), f"{detail} in {describe(ins)} at {i}"


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


def _replace_instr(program: Program, index: int, ins: Instr) -> Program:
    return replace(program, body=program.body[:index] + (ins,) + program.body[index + 1:])


MUTATIONS: dict[str, Callable[[Program, np.random.Generator], Edit | None]] = {
    "insert": insert, "delete": delete, "change_arg": change_arg, "change_op": change_op,
    "perturb_constant": perturb_constant, "swap": swap,
}
