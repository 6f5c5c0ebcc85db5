"""The evolving population of regularized evolution: the last P evaluated children, tournament
selection of parents, the best so far, and restarts.

Until it holds P members (at the start, and after a restart) a parent is drawn uniformly from the
sources: the calibrated seeds, or after a restart from the best (`RestartSource.BEST`) the best
program (by promoted score if any was promoted, else by proxy fitness). Once full, a parent is the
fittest of `tournament` members drawn without replacement; an admitted member makes the oldest
leave."""
from __future__ import annotations

import math
from enum import StrEnum
from typing import Sequence

import numpy as np

from lion_search.search.records import Member


class RestartSource(StrEnum):
    """Where a restarted population's first parents come from."""

    BEST = "best"       # the best program (by promoted score first): a restart on a plateau
    SEEDS = "seeds"     # the seeds: an independent repeat of the search


class Population:
    """The population and its best members; draws from `rng` (shared with the mutations, so
    that a search's choices follow one random stream)."""

    def __init__(self, size: int, tournament: int, rng: np.random.Generator):
        self.size = size
        self.tournament = tournament
        self.rng = rng
        self.members: list[Member] = []
        self.best: Member | None = None            # the best by proxy fitness
        self.promoted_best: Member | None = None   # the best by promoted score (of all islands)
        self.seeds: list[Member] = []
        self.restarted: RestartSource | None = None    # the source of the last restart

    def __len__(self) -> int:
        return len(self.members)

    def resume(self, members: Sequence[Member], best: Member | None,
               promoted_best: Member | None, seeds: Sequence[Member],
               restarted: RestartSource | None) -> None:
        """Take up a journaled search's state (members oldest first; `restarted`: the last
        restart's source, None if none)."""
        self.members = list(members)
        self.best = best
        self.promoted_best = promoted_best
        self.seeds = list(seeds)
        self.restarted = restarted

    def sources(self) -> list[Member]:
        """Where parents come from while the population is filling up."""
        best = self.promoted_best or self.best
        if self.restarted == RestartSource.BEST and best:
            return [best]
        return self.seeds

    def select_parent(self) -> Member:
        """Tournament selection, or a source while the population is not yet full."""
        if len(self.members) < self.size:
            sources = self.sources()
            return sources[self.rng.integers(len(sources))]
        picks = self.rng.choice(len(self.members), self.tournament, replace=False)
        return min((self.members[i] for i in picks), key=lambda m: m.fitness)

    def admit(self, member: Member) -> bool:
        """Add an evaluated child (the oldest member leaves); whether it is the new best (the
        lowest finite fitness so far)."""
        self.members.append(member)
        if len(self.members) > self.size:
            self.members.pop(0)
        if math.isfinite(member.fitness) and (self.best is None
                                              or member.fitness < self.best.fitness):
            self.best = member
            return True
        return False

    def rescore(self, ids: set[int], fitness: float) -> None:
        """Members `ids` (equivalent programs) now have `fitness` (measured on more training
        seeds); so has the best if it is one of them, and it stays the best only while no
        member is better."""
        self.members = [m._replace(fitness=fitness) if m.id in ids else m for m in self.members]
        if self.best is not None and self.best.id in ids:
            self.best = min([self.best._replace(fitness=fitness)] + [
                m for m in self.members if math.isfinite(m.fitness)], key=lambda m: m.fitness)

    def restart(self, source: RestartSource) -> None:
        """Empty the population: it refills with mutants of `source`."""
        self.members = []
        self.restarted = source
