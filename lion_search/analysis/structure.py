"""A program's data flow as a DAG, for comparing programs: the structure key (constants
abstracted), a canonical walk that pairs the constants of two programs of one structure, and
the pairing of the instructions of two programs of different structure (see `retune`)."""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import replace
from typing import Any, NamedTuple

from lion_search.language.hyperparams import Site
from lion_search.language.lr_scale import unscale_lr
from lion_search.language.ops import COMMUTATIVE_OPS
from lion_search.language.program import ALL_INPUTS, Arg, Program, is_temp
from lion_search.simplify import rewrite

Ref = tuple[str, Any]  # ("in", name) | ("mem", k) | ("const", Site) | ("node", instruction index)


class Graph(NamedTuple):
    """A program's expression DAG: each non-copy instruction (by index) as (op, operand refs),
    the outputs' refs, each ref's structure key, and the canonical walk (see the module)."""

    program: Program
    nodes: dict[int, tuple[str, tuple[Ref, ...]]]
    outputs: tuple[Ref, ...]
    keys: dict[Ref, str]
    exact: dict[Ref, str]   # as keys, with the constants' values
    walk: tuple[Ref, ...]

    @property
    def structure(self) -> str:
        marked = [self.keys[r] for r in self.outputs]
        if self.program.has_eval:
            marked[-1] = "eval " + marked[-1]
        return _digest("return " + ",".join(marked))

    def constants(self) -> list[Site]:
        """The sites of the constants, in the order of the canonical walk."""
        return [r[1] for r in self.walk if r[0] == "const"]

    def value(self, site: Site) -> float:
        args = self.program.outputs if site.index == len(self.program.body) else \
            self.program.body[site.index].args
        return float(args[site.position])

    def operands(self, ref: Ref) -> tuple[Ref, ...]:
        """A node's operands in canonical order (a commutative op's sorted by structure, then
        by value)."""
        op, args = self.nodes[ref[1]]
        if op in COMMUTATIVE_OPS:
            return tuple(sorted(args, key=lambda a: (self.keys[a], self.exact[a])))
        return args


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def graph(program: Program) -> Graph:
    """The expression DAG of `program` (used as given: see `canonical`)."""
    env: dict[str, Ref] = {name: ("in", name) for name in ALL_INPUTS}
    env.update((slot, ("mem", k)) for k, slot in enumerate(program.memory))
    nodes: dict[int, tuple[str, tuple[Ref, ...]]] = {}
    keys: dict[Ref, str] = {}
    exact: dict[Ref, str] = {}

    def ref(a: Arg, site: Site) -> Ref:
        found = env[a] if isinstance(a, str) else ("const", site)
        keys.setdefault(found, "c" if found[0] == "const" else f"{found[0]} {found[1]}")
        exact.setdefault(found, f"c {float(a)!r}" if found[0] == "const" else keys[found])
        return found

    def key(table: dict[Ref, str], op: str, args: tuple[Ref, ...]) -> str:
        operands = [table[a] for a in args]
        return _digest(f"{op}({','.join(sorted(operands) if op in COMMUTATIVE_OPS else operands)})")

    for i, ins in enumerate(program.body):
        args = tuple(ref(a, Site(i, k)) for k, a in enumerate(ins.args))
        if ins.op == "copy":
            env[ins.dst] = args[0]
            continue
        nodes[i] = (ins.op, args)
        keys[("node", i)], exact[("node", i)] = key(keys, ins.op, args), key(exact, ins.op, args)
        env[ins.dst] = ("node", i)
    end = len(program.body)
    outputs = tuple(ref(a, Site(end, k)) for k, a in enumerate(program.outputs))
    partial = Graph(program, nodes, outputs, keys, exact, ())
    walk: list[Ref] = []
    seen: set[Ref] = set()
    stack = list(reversed(outputs))
    while stack:   # depth first, each node once, operands in canonical order
        r = stack.pop()
        if r in seen or r[0] not in ("node", "const"):
            continue
        seen.add(r)
        walk.append(r)
        if r[0] == "node":
            stack.extend(reversed(partial.operands(r)))
    return partial._replace(walk=tuple(walk))


def canonical(program: Program) -> tuple[Program, float]:
    """(the program without its calibration prefactor, exactly rewritten; the prefactor c)."""
    stripped, scale = unscale_lr(program)
    return rewrite(stripped)[0], scale


# ------------------------------------------------------------- programs of different structure

def pair_instructions(a: Graph, b: Graph) -> dict[int, int]:
    """Instructions of `a` paired with those of `b` (indices), in three passes: from the
    outputs down, operand by operand, pairing whole sub-expressions of one structure and
    instructions of one op; then the sub-expressions of one structure left, wherever they sit;
    then from the outputs down again, pairing instructions whatever their ops."""
    pairs: dict[int, int] = {}
    taken: set[int] = set()

    def pair(x: Ref, y: Ref) -> None:
        if x[0] == "node" and y[0] == "node" and x[1] not in pairs and y[1] not in taken:
            pairs[x[1]] = y[1]
            taken.add(y[1])

    def exact(x: Ref, y: Ref) -> None:   # two sub-expressions of one structure
        stack = [(x, y)]
        while stack:
            u, v = stack.pop()
            pair(u, v)
            if u[0] == "node" and pairs.get(u[1]) == v[1]:
                stack.extend(zip(a.operands(u), b.operands(v)))

    def descend(any_op: bool) -> None:
        work, done = _aligned_outputs(a, b), set()
        while work:
            x, y = work.pop(0)
            if (x, y) in done or x[0] != "node" or y[0] != "node":
                continue
            done.add((x, y))
            if a.keys[x] == b.keys[y]:
                exact(x, y)
            elif any_op or a.nodes[x[1]][0] == b.nodes[y[1]][0]:
                pair(x, y)
            if pairs.get(x[1]) == y[1]:
                work.extend(zip(a.operands(x), _aligned(a, b, x, y)))

    descend(any_op=False)
    for x in (r for r in a.walk if r[0] == "node" and r[1] not in pairs):
        y = next((r for r in b.walk if r[0] == "node" and r[1] not in taken
                  and b.keys[r] == a.keys[x]), None)
        if y is not None:
            exact(x, y)
    descend(any_op=True)
    return pairs


LIKENESS_DEPTH = 3  # how deep `_aligned` compares two operands below a commutative op


def _aligned(a: Graph, b: Graph, x: Ref, y: Ref) -> tuple[Ref, ...]:
    """`y`'s operands in the order that best matches `x`'s: a commutative op's two operands
    swapped where they are then more alike (`_likeness`)."""
    ys = b.operands(y)
    if b.nodes[y[1]][0] not in COMMUTATIVE_OPS or len(ys) != 2:
        return ys
    xs = a.operands(x)
    kept = sum(_likeness(a, b, u, v, LIKENESS_DEPTH) for u, v in zip(xs, ys))
    swapped = sum(_likeness(a, b, u, v, LIKENESS_DEPTH) for u, v in zip(xs, ys[::-1]))
    return ys if kept >= swapped else ys[::-1]


def _likeness(a: Graph, b: Graph, u: Ref, v: Ref, depth: int) -> int:
    """How alike two sub-expressions are, looking `depth` instructions down: one structure
    (the same input or slot, two constants, or instructions alike all the way down) scores
    above any partial match; else 1 for instructions of the same op, plus the likeness of
    their operands in order."""
    if a.keys[u] == b.keys[v]:
        return 4 ** (depth + 1)
    if u[0] != "node" or v[0] != "node" or depth == 0:
        return 0
    (op_u, _), (op_v, _) = a.nodes[u[1]], b.nodes[v[1]]
    return int(op_u == op_v) + sum(_likeness(a, b, p, q, depth - 1)
                                   for p, q in zip(a.operands(u), b.operands(v)))


def _aligned_outputs(a: Graph, b: Graph) -> list[tuple[Ref, Ref]]:
    """The update with the update, memory slot k with slot k, evaluation weights with theirs."""
    slots = min(a.program.slots, b.program.slots)
    aligned = list(zip(a.outputs[:1 + slots], b.outputs[:1 + slots]))
    if a.program.has_eval and b.program.has_eval:
        aligned.append((a.outputs[-1], b.outputs[-1]))
    return aligned


def differing_instructions(a: Graph, b: Graph, pairs: dict[int, int]) -> int:
    """How many instructions of `a` and `b` differ under `pairs`: each paired one whose op or
    operands differ, and each unpaired one of either program; and each returned value (the
    update, a slot's new value, the evaluation weights) that is not the paired value of the
    other program's (unless an unpaired instruction computes it, counted already), or that
    only one program returns (a slot more)."""
    def same_operand(x: Ref, y: Ref) -> bool:
        if x[0] == "node" or y[0] == "node":
            return x[0] == y[0] and pairs.get(x[1]) == y[1]
        return x[0] == y[0] and (x[0] == "const" or x[1] == y[1])

    changed = 0
    for i, j in pairs.items():
        (op_a, _), (op_b, _) = a.nodes[i], b.nodes[j]
        xs, ys = a.operands(("node", i)), b.operands(("node", j))
        orders = [ys, ys[::-1]] if op_b in COMMUTATIVE_OPS and len(ys) == 2 else [ys]
        if op_a != op_b or len(xs) != len(ys) or \
                not any(all(map(same_operand, xs, order)) for order in orders):
            changed += 1
    aligned = _aligned_outputs(a, b)
    unpaired = {("node", i) for i in a.nodes if i not in pairs}, \
        {("node", j) for j in b.nodes if j not in set(pairs.values())}
    returned = sum(1 for x, y in aligned if not same_operand(x, y)
                   and x not in unpaired[0] and y not in unpaired[1])
    returned += len(a.outputs) + len(b.outputs) - 2 * len(aligned)
    return changed + len(a.nodes) - len(pairs) + len(b.nodes) - len(pairs) + returned


def renamed_like(a: Graph, b: Graph, pairs: dict[int, int]) -> Program:
    """`a`'s program named as `b`'s: its name, its memory slots (slot by slot, when the counts
    agree) and each variable whose paired instructions of one op all write one name of `b`'s,
    where that name is free."""
    ours, theirs = a.program, b.program
    wanted: dict[str, set[str]] = {}
    if ours.slots == theirs.slots:
        for x, y in zip(ours.memory, theirs.memory):
            wanted.setdefault(x, set()).add(y)
    for i, j in pairs.items():
        x, y = ours.body[i].dst, theirs.body[j].dst
        if ours.body[i].op == theirs.body[j].op and not any(
                is_temp(n) or n in ALL_INPUTS for n in (x, y)):
            wanted.setdefault(x, set()).add(y)
    names = set(ours.memory) | {ins.dst for ins in ours.body}
    mapping = {x: next(iter(ys)) for x, ys in wanted.items() if len(ys) == 1 and x not in ys}
    while True:   # drop renames onto a name that another rename or a kept name holds
        targets = Counter(mapping.values())
        kept = {x: y for x, y in mapping.items()
                if targets[y] == 1 and (y not in names or y in mapping)}
        if kept == mapping:
            break
        mapping = kept

    def name(v: Arg) -> Arg:
        return mapping.get(v, v) if isinstance(v, str) else v

    body = tuple(replace(ins, dst=name(ins.dst), args=tuple(map(name, ins.args)))
                 for ins in ours.body)
    return replace(ours, name=theirs.name, memory=tuple(map(name, ours.memory)), body=body,
                   outputs=tuple(map(name, ours.outputs)))
