"""Does the proxy transfer? The rank agreement between a run's proxy fitness and promoted score.

A search climbs its proxy, and promotion re-trains its best programs on the larger tasks. Over
the programs promoted so far, with f_i a program's proxy fitness (its best search or seed
evaluation) and s_i its promoted score (both lower is better; a failed promotion is the worst
score), the transfer is Kendall's tau-b between f and s (`analysis.agreement`). Near 1 the proxy
ranks programs as the promotion tasks do; below 0 it ranks them the other way, and climbing it
leads away from what the run is for: the proxy is misleading the search once that holds over
at least MISLEADING_AFTER promoted programs (fewer are too few to tell).

After each promotion round the search journals the transfer so far (`journal_transfer`, the
run value "transfer": one record per round, for its history); `transfer` reads it afresh.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from lion_search.analysis.agreement import kendall_tau
from lion_search.runs.journal import EvalKind, RunStore

MISLEADING_AFTER = 8


class TransferPoint(NamedTuple):
    """A promoted program: its proxy fitness and promoted score (inf: failed)."""

    program: int
    fitness: float
    score: float


class Transfer(NamedTuple):
    """Kendall's tau between proxy fitness and promoted score over the promoted programs (NaN
    with fewer than two, or when either side ties them all)."""

    tau: float
    points: tuple[TransferPoint, ...]

    @property
    def promoted(self) -> int:
        return len(self.points)

    @property
    def misleading(self) -> bool:
        """Whether tau < 0 over at least MISLEADING_AFTER promoted programs."""
        return self.promoted >= MISLEADING_AFTER and self.tau < 0

    def describe(self) -> str:
        """One line: the tau and how many programs it is over."""
        if math.isnan(self.tau):
            return (f"transfer: {self.promoted} program(s) promoted, too few (or all tied) for "
                    "a rank agreement between proxy fitness and promoted score")
        return (f"transfer: Kendall tau {self.tau:+.2f} between proxy fitness and promoted score "
                f"over {self.promoted} promoted programs")

    def warning(self) -> str | None:
        """The warning a misleading proxy earns, else None."""
        if not self.misleading:
            return None
        return (f"the proxy is misleading this search: over {self.promoted} promoted programs, "
                f"a better proxy fitness goes with a worse promoted score (Kendall tau "
                f"{self.tau:+.2f}); the run's best is the best by promoted score, and a proxy that "
                "predicts the targets (`lion-search bench --proxies`) would serve it better")

    def to_json(self) -> dict:
        return {"tau": None if math.isnan(self.tau) else self.tau, "promoted": self.promoted,
                "misleading": self.misleading, "describe": self.describe(),
                "warning": self.warning(),
                "points": [{"id": p.program,
                            "fitness": p.fitness if math.isfinite(p.fitness) else None,
                            "score": p.score if math.isfinite(p.score) else None}
                           for p in self.points]}


def transfer(store: RunStore) -> Transfer:
    """The transfer over every program the run has promoted so far."""
    promoted = {e.program: e.fitness for e in store.evaluations(EvalKind.PROMOTED)}
    fitness = store.best_fitness(list(promoted)) if promoted else {}
    points = tuple(TransferPoint(pid, fitness.get(pid, math.inf), score)
                   for pid, score in promoted.items())
    return Transfer(kendall_tau([p.fitness for p in points], [p.score for p in points]), points)


def journal_transfer(store: RunStore, trained: int) -> Transfer:
    """Compute the transfer and append it, with the trained evaluations so far, to the run's
    "transfer" history; returns it."""
    now = transfer(store)
    history = store.value("transfer", [])
    history.append({"trained": trained, "promoted": now.promoted,
                    "tau": None if math.isnan(now.tau) else now.tau})
    store.set_value("transfer", history)
    return now
