"""Did anything beat the seed? The run's verdict in one line, from its promotions.

Promotion trains the seed program through the same protocol as every candidate (the same tasks,
seeds and lr sweeps; `search.promotion`), and each task's loss a_i is journaled as the task's
centre. A program p with loss L_{p,i} on task i lost to the seed by

    x_p = max_i log(L_{p,i} / a_i)       (on its worst task)

and beat it everywhere where x_p < 0. When no promoted program did, the run's best is the seed,
and the summary says so, with the closest program and how much worse it was where it was worst.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from lion_search.runs.journal import EvalKind, ProgramRow, RunStore

# How a promoted program's losses on the promotion tasks make one score (--promote-score).
PROMOTED_SCORES = {"worst": "the largest over those tasks of log(loss / the seed's loss): "
                            "below 0 beats the seed on every task",
                   "mean": "the mean over those tasks of log(loss / the seed's loss)"}


class Standing(NamedTuple):
    """A promoted program against the seed: its worst task, its loss ratio to the seed's there
    (above 1: worse), and whether it beat the seed on every task."""

    program: int
    task: str
    ratio: float

    @property
    def beats(self) -> bool:
        return self.ratio < 1

    def describe(self) -> str:
        """'12.0% worse on text-lm-mini' or '3.1% better on its worst task, digits-cnn'."""
        if not math.isfinite(self.ratio):
            return f"failed on {self.task}"
        change = 100 * (self.ratio - 1)
        if change >= 0:
            return f"{change:.1f}% worse on {self.task}"
        return f"{-change:.1f}% better on its worst task, {self.task}"


def seed_losses(store: RunStore) -> dict[str, float]:
    """The seed program's loss on each promotion task through the protocol (empty for runs
    journaled before it was promoted itself)."""
    return {c["task"]: c["loss"] for c in store.value("promotion_centres", [])}


def standing(store: RunStore, program_id: int) -> Standing | None:
    """Program `program_id` against the seed over the promotion tasks (None if it was not
    promoted, or the run does not promote its seed)."""
    seed = seed_losses(store)
    losses = {e.task: e.fitness for e in store.evaluations_of(program_id, EvalKind.PROMOTION)}
    if not seed or set(losses) != set(seed):
        return None
    ratios = {task: losses[task] / seed[task] if math.isfinite(losses[task]) else math.inf
              for task in seed}
    task = max(ratios, key=ratios.get)
    return Standing(program_id, task, ratios[task])


def seed_name(store: RunStore) -> str:
    """The name of the run's (first) seed program."""
    seeds = store.value("seeds", [])
    return seeds[0]["name"] if seeds else "the seed"


def verdict(store: RunStore, best: ProgramRow | None) -> str | None:
    """One line on the run's best against the seed through promotion's protocol (None where the
    run does not promote its seed, or promoted nothing else)."""
    seeds = {s["id"] for s in store.value("seeds", [])}
    candidates = [row for row, _ in store.best(2, EvalKind.PROMOTED) if row.id not in seeds]
    if not seed_losses(store) or not candidates or best is None:
        return None
    name = seed_name(store)
    if best.id in seeds:
        closest = standing(store, candidates[0].id)
        return (f"nothing this run found beat {name}; the closest: #{closest.program}, "
                f"{closest.describe()}; the run's best is {name} itself")
    won = standing(store, best.id)
    return (f"#{best.id} beats {name} on every promotion task through the same protocol "
            f"({won.describe()})")


def export_note(store: RunStore, program_id: int) -> str | None:
    """What a user exporting program `program_id` should know when it did not beat the seed:
    by how much it lost, or that it was never measured against it (None when it beat it, or the
    run does not promote its seed)."""
    if not seed_losses(store):
        return None
    seeds = {s["id"] for s in store.value("seeds", [])}
    if program_id in seeds:
        return None
    name = seed_name(store)
    found = standing(store, program_id)
    if found is None:
        return (f"#{program_id} was never promoted: nothing says it beats {name} beyond the "
                "proxy's training runs")
    if found.beats:
        return None
    return f"#{program_id} did not beat {name} in promotion: {found.describe()}"
