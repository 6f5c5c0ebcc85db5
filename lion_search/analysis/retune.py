"""Retunes named as retunes: how a program relates to the seeds.

A program is a *retune* of seed S when its exact rewrite has S's structure: the same data flow
with its constants abstracted. Both sides are first put in canonical form: the search's
calibration prefactor `lr = c * lr` is taken off (`lr_scale.unscale_lr`; c only rescales the
learning rate, which every comparison tunes), and the simplifier's exact rewrites run
(`simplify.rewrite`: dead code, copies, x * 1 and the like). The structure key then hashes the
expression DAG of the outputs as `dedup.dataflow_hash` does (inputs by role, memory slots by
position, commutative operands sorted, copies and names left out), but with every constant
hashed alike. So renaming, dead code, the order of independent instructions and the
simplifier's rewrites never change it; a different op, input or wiring does.

The constants of two programs with one structure pair up in the order of a canonical walk of
the DAG (outputs in order, each instruction's operands in order, a commutative op's sorted by
their structure and then by their values); each of the seed's constants is labelled with the
name its file declares for its value (`hyperparams`: b1, weight_decay, or a derived formula
such as 1 - b1), else `constant`. A retune lists each changed constant beside the seed's value,
`b1 0.9 -> 0.5297`, with "at k of n places" when only some of the places that share the name
changed (a search mutates one place at a time).

A constant that lets a rewrite fire (an interp weight of 0 or 1, a factor of 1) changes the
structure: AdamW with weight decay 0 is not a retune of AdamW. Memory slots count by position,
so listing a seed's slots in another order makes new structure.

Any other program is *new structure*, shown with its diff to the nearest seed: the seed with
the fewest differing instructions. Instructions are paired in three passes: from the outputs
down, operand by operand, pairing whole sub-expressions of one structure and instructions of
one op; then the sub-expressions of one structure left, wherever they sit; then from the
outputs down again, whatever the ops. A paired instruction differs when its op or the pairing
of any operand differs, and every unpaired instruction differs. The diff is of the two
canonical forms as text, the program's memory slots and paired variables renamed to the seed's
names, so that a renamed program's diff shows only what changed.
"""
from __future__ import annotations

import difflib
import functools
from collections import Counter
from enum import Enum
from typing import NamedTuple

from lion_search.analysis.canonical_seeds import canonical_seeds
from lion_search.analysis.structure import (
    Graph,
    canonical,
    differing_instructions,
    graph,
    pair_instructions,
    renamed_like,
)
from lion_search.language.hyperparams import Declaration, seed_declaration
from lion_search.language.program import Program, format_constant

CONSTANT = "constant"  # the label of a seed constant its file does not name


class Kind(Enum):
    """How a program relates to the seeds."""

    RETUNE = "retune"
    NEW_STRUCTURE = "new structure"


class ConstantChange(NamedTuple):
    """A seed constant the program changed: its label, the seed's value and the program's, and
    at how many of the places that hold it under that label."""

    label: str
    seed_value: float
    value: float
    places: int
    of: int

    def __str__(self) -> str:
        where = f" at {self.places} of {self.of} places" if self.places < self.of else ""
        return (f"{self.label} {format_constant(self.seed_value)} -> "
                f"{format_constant(self.value)}{where}")


class Relation(NamedTuple):
    """A program against the seeds: a retune of `seed` (with its changed constants) or new
    structure (with the number of instructions that differ from `seed`, the nearest, and the
    diff); `lr_scale` is the calibration prefactor taken off first."""

    kind: Kind
    seed: str
    changes: tuple[ConstantChange, ...]
    lr_scale: float
    differing: int
    diff: str

    @property
    def label(self) -> str:
        """`retune of adamw`, `adamw itself` (a retune that changed no constant), or `new
        structure`."""
        if self.kind is Kind.NEW_STRUCTURE:
            return Kind.NEW_STRUCTURE.value
        return f"retune of {self.seed}" if self.changes else f"{self.seed} itself"

    @property
    def headline(self) -> str:
        """One line: `retune of adamw: b1 0.9 -> 0.5297, b2 0.999 -> 0.95`, or `new structure
        (nearest seed adamw, 1 instruction differs)`."""
        if self.kind is Kind.NEW_STRUCTURE:
            count = "1 instruction differs" if self.differing == 1 else \
                f"{self.differing} instructions differ"
            return f"new structure (nearest seed {self.seed}, {count})"
        if not self.changes:
            return f"{self.label} (no constant changed)"
        return f"{self.label}: {', '.join(map(str, self.changes))}"

    def verdict(self, passed: bool) -> str:
        """A funnel verdict with the relation: `retune of adamw: passes`, `new structure: out`."""
        return f"{self.label}: {'passes' if passed else 'out'}"

    def describe(self, indent: str = "") -> str:
        """The headline, the lr prefactor and, for new structure, the diff, its lines indented
        by `indent` (several lines)."""
        lines = [self.headline]
        if self.lr_scale != 1.0:
            lines.append(f"(its leading lr = {format_constant(self.lr_scale)} * lr, the "
                         "search's lr calibration, is left out of the comparison)")
        if self.kind is Kind.NEW_STRUCTURE:
            lines.append(f"diff to {self.seed} (both after exact rewriting):")
            lines += [indent + line for line in self.diff.splitlines()]
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"kind": self.kind.value, "seed": self.seed, "label": self.label,
                "headline": self.headline, "lr_scale": self.lr_scale,
                "changes": [{"name": c.label, "seed_value": c.seed_value, "value": c.value,
                             "places": c.places, "of": c.of} for c in self.changes],
                "differing_instructions": self.differing,
                "diff": self.diff if self.kind is Kind.NEW_STRUCTURE else None}


class SeedForm(NamedTuple):
    """A seed: its name, the data flow of its canonical form, and its file's declaration."""

    name: str
    graph: Graph
    declaration: Declaration


@functools.lru_cache(maxsize=1)
def seed_forms() -> tuple[SeedForm, ...]:
    """Every seed in canonical form (kept on disk: `canonical_seeds`), with its declaration."""
    return tuple(SeedForm(name, graph(form), seed_declaration(name))
                 for name, form in sorted(canonical_seeds().items()))


# ---------------------------------------------------------------------------------- retunes

def constant_changes(program: Graph, seed: SeedForm) -> tuple[ConstantChange, ...]:
    """The seed's constants that `program` (of the seed's structure) changed, grouped by label
    and seed value, in the order of the seed's walk."""
    groups: dict[tuple[str, float], list[float]] = {}
    for ours, theirs in zip(program.constants(), seed.graph.constants()):
        old = seed.graph.value(theirs)
        label = seed.declaration.label(old) or CONSTANT
        groups.setdefault((label, old), []).append(program.value(ours))
    changes = []
    for (label, old), values in groups.items():
        counts = Counter(values)
        changes += [ConstantChange(label, old, new, n, len(values))
                    for new, n in counts.items() if new != old]
    return tuple(changes)


def full_diff(seed: Program, program: Program) -> str:
    """The whole seed, its lines that the program lacks marked `-`, the program's own `+`."""
    lines = difflib.unified_diff(str(seed).splitlines(), str(program).splitlines(),
                                 lineterm="", n=len(str(seed).splitlines()) + 1)
    return "\n".join(line for line in lines
                     if not line.startswith(("---", "+++", "@@")))


# ------------------------------------------------------------------------------------ relate

@functools.lru_cache(maxsize=4096)
def relate(program: Program) -> Relation:
    """How `program` relates to the seeds (see the module's docstring)."""
    form, scale = canonical(program)
    ours = graph(form)
    same = [seed for seed in seed_forms() if seed.graph.structure == ours.structure]
    if same:
        best = min(same, key=lambda s: (len(constant_changes(ours, s)), s.name))
        return Relation(Kind.RETUNE, best.name, constant_changes(ours, best), scale, 0, "")
    scored = []
    for seed in seed_forms():
        pairs = pair_instructions(ours, seed.graph)
        scored.append((differing_instructions(ours, seed.graph, pairs),
                       abs(len(ours.nodes) - len(seed.graph.nodes)), seed.name, seed, pairs))
    count, _, _, seed, pairs = min(scored, key=lambda s: s[:3])
    diff = full_diff(seed.graph.program, renamed_like(ours, seed.graph, pairs))
    return Relation(Kind.NEW_STRUCTURE, seed.name, (), scale, count, diff)
