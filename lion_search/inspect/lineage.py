"""The ancestry of a program: the chain of mutations from its seed, each step as a small diff.

Every child in a run journal records its `parent` and the `mutation` that made it, so the path
from a seed (origin 'seed', no parent) to any program can be read back step by step:

    #10 seed: adamw calibrated: lr x1
        fitness 8.984e-09
    #17 step 1: change_op: change op at 10: _6 = sqrt(v_hat) -> _6 = mean(v_hat)
        fitness 4.468e-09 (-4.516e-09)
        -    return lr * (m_hat / (sqrt(v_hat) + 1e-8) + 0.0001 * w), m, v
        +    return lr * (m_hat / (mean(v_hat) + 1e-8) + 0.0001 * w), m, v

Reading only; works on the journal of a search that is still running.
"""
from __future__ import annotations

import difflib
import math
from typing import Any, NamedTuple

from lion_search.language.errors import RunError
from lion_search.runs.journal import PROXY_KINDS, EvalKind, RunStore


class LineageStep(NamedTuple):
    """One program on the way from a seed to a descendant.

    fitness: its best search (or seed) evaluation; +inf if it failed or is not evaluated yet.
    delta:   fitness minus the previous step's fitness (nan for the first step, and when both
             are infinite).
    diff:    the changed lines from the previous step's program text to this one's, each
             prefixed with '-' or '+' (no context, no headers); '' for the first step (and for
             the steps `ancestry` was asked to leave without one).
    """

    id: int
    mutation: str
    fitness: float
    delta: float
    diff: str
    origin: str
    text: str


def text_diff(before: str, after: str) -> str:
    """Only the changed lines of a unified diff of two program texts, '-'/'+' prefixed."""
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return "\n".join(line for line in lines
                     if line[:1] in "+-" and not line.startswith(("+++", "---")))


def ancestry(store: RunStore, program_id: int, diffs: int | None = None) -> list[LineageStep]:
    """The chain from the root (a seed, for any child of a search) to `program_id`, following
    each program's parent; `diffs`: only the last this many steps get their diff (None: all;
    a search of 300,000 programs has chains of thousands). Raises RunError for an unknown id or
    a cycle in the journal."""
    rows = store.ancestors(int(program_id))
    if not rows:
        store.program(int(program_id))          # raises: no such program
    seen: set[int] = set()
    for row in rows:
        if row.id in seen:
            raise RunError(f"run {str(store.folder)!r}: the lineage of program {program_id} "
                           f"loops at program {row.id}")
        seen.add(row.id)
    rows.reverse()
    first_diff = 1 if diffs is None else max(len(rows) - diffs, 1)
    fitness = store.best_fitness([r.id for r in rows], (*PROXY_KINDS, EvalKind.SIMPLIFIED))
    steps: list[LineageStep] = []
    for i, row in enumerate(rows):
        f = fitness.get(row.id, math.inf)
        if i == 0:
            delta, diff = math.nan, ""
        else:
            previous = steps[-1]
            delta = f - previous.fitness if math.isfinite(f) or math.isfinite(previous.fitness) \
                else math.nan
            diff = text_diff(rows[i - 1].text, row.text) if i >= first_diff else ""
        steps.append(LineageStep(row.id, row.mutation, f, delta, diff, row.origin, row.text))
    return steps


def _number(x: float) -> float | None:
    return x if math.isfinite(x) else None


def lineage_json(steps: list[LineageStep]) -> list[dict[str, Any]]:
    """JSON-ready steps; non-finite numbers (failed runs, the first step's delta) are null."""
    return [{"id": s.id, "origin": s.origin, "mutation": s.mutation,
             "fitness": _number(s.fitness), "delta": _number(s.delta),
             "diff": s.diff.splitlines(), "program": s.text} for s in steps]


def _fmt(x: float) -> str:
    return f"{x:.4g}" if math.isfinite(x) else "failed"


def _fmt_delta(x: float) -> str:
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return "(now fails)" if x > 0 else "(no longer fails)"
    return f"({x:+.4g})"


def format_lineage(steps: list[LineageStep], indent: str = "    ") -> str:
    """Plain text for a terminal (no markup): one header line per step, then its diff."""
    if not steps:
        return ""
    lines = []
    if steps[0].origin != "seed":
        lines.append(f"(program #{steps[0].id} has no parent: origin {steps[0].origin})")
    for i, s in enumerate(steps):
        label = s.origin if i == 0 else f"step {i}"
        lines.append(f"#{s.id} {label}: {s.mutation}")
        lines.append(f"{indent}fitness {_fmt(s.fitness)} {_fmt_delta(s.delta)}".rstrip())
        if i and not s.diff:
            lines.append(f"{indent}(program text unchanged)")
        lines.extend(indent + line for line in s.diff.splitlines())
    end = steps[-1]
    start = steps[0]
    if len(steps) > 1 and math.isfinite(end.fitness) and math.isfinite(start.fitness):
        lines.append(f"{len(steps) - 1} mutation(s) from #{start.id} to #{end.id}: fitness "
                     f"{_fmt(start.fitness)} -> {_fmt(end.fitness)} "
                     f"({end.fitness - start.fitness:+.4g})")
    return "\n".join(lines) + "\n"
