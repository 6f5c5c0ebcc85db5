"""Does the proxy transfer? The rank agreement between a run's proxy fitness and promoted score.

A search climbs its proxy, and promotion re-trains its best programs on the larger tasks. Over
the programs promoted so far, with f_i a program's proxy fitness (its best search or seed
evaluation) and s_i its promoted score (both lower is better; a failed promotion is the worst
score), the transfer is Kendall's tau-b between f and s (`analysis.agreement`). Near 1 the proxy
ranks programs as the promotion tasks do; below 0 it ranks them the other way, and climbing it
leads away from what the run is for: the proxy is misleading the search once that holds over
at least MISLEADING_AFTER promoted programs (fewer are too few to tell).

With a screen (leaders ranked on cheap tasks before promotion, `search.promotion_scheduler`),
the screen's own transfer is reported beside it: Kendall's tau between the screen score and the
promoted score over the programs that have both.

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
    """A promoted program: its proxy fitness, promoted score (inf: failed) and screen score
    (NaN: not screened)."""

    program: int
    fitness: float
    score: float
    screen: float = math.nan


class Transfer(NamedTuple):
    """Kendall's tau between proxy fitness and promoted score over the promoted programs (NaN
    with fewer than two, or when either side ties them all), and between screen score and
    promoted score over the screened ones (NaN without a screen)."""

    tau: float
    points: tuple[TransferPoint, ...]
    screen_tau: float = math.nan

    @property
    def screened(self) -> int:
        return sum(not math.isnan(p.screen) for p in self.points)

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
        screen = "" if math.isnan(self.screen_tau) else (
            f"; {self.screen_tau:+.2f} between screen score and promoted score over "
            f"{self.screened}")
        return (f"transfer: Kendall tau {self.tau:+.2f} between proxy fitness and promoted score "
                f"over {self.promoted} promoted programs{screen}")

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
                "screen_tau": None if math.isnan(self.screen_tau) else self.screen_tau,
                "points": [{"id": p.program,
                            "fitness": p.fitness if math.isfinite(p.fitness) else None,
                            "score": p.score if math.isfinite(p.score) else None,
                            "screen": p.screen if math.isfinite(p.screen) else None}
                           for p in self.points]}


def transfer(store: RunStore) -> Transfer:
    """The transfer over every program the run has promoted so far."""
    promoted = {e.program: e.fitness for e in store.evaluations(EvalKind.PROMOTED)}
    fitness = store.best_fitness(list(promoted)) if promoted else {}
    screen = {e.program: e.fitness for e in store.evaluations(EvalKind.SCREENED)}
    points = tuple(TransferPoint(pid, fitness.get(pid, math.inf), score,
                                 screen.get(pid, math.nan))
                   for pid, score in promoted.items())
    screened = [p for p in points if p.program in screen]
    return Transfer(kendall_tau([p.fitness for p in points], [p.score for p in points]), points,
                    kendall_tau([p.screen for p in screened], [p.score for p in screened]))


def journal_transfer(store: RunStore, trained: int) -> Transfer:
    """Compute the transfer and append it, with the trained evaluations so far, to the run's
    "transfer" history; returns it."""
    now = transfer(store)
    history = store.value("transfer", [])
    history.append({"trained": trained, "promoted": now.promoted,
                    "tau": None if math.isnan(now.tau) else now.tau,
                    "screen_tau": None if math.isnan(now.screen_tau) else now.screen_tau})
    store.set_value("transfer", history)
    return now
