"""Islands: K populations of regularized evolution that evolve apart from the same seeds, with
ring migration (as OpenEvolve's islands do), so that one lineage that takes over a population
does not end the search.

The population of P members is split into K islands of P // K members each, the first P mod K
one more (`Population`, each with its own tournaments). Children are proposed on the islands in turn (the n-th child journaled on
island n mod K) and join their island. Every `migrate_every` trained evaluations each island i
sends a copy of its best member to island (i + 1) mod K: the best whose program the target does
not already hold (by fingerprint: a program equivalent to one of its members is no news there);
the copy joins the target like a child (its oldest member leaves). With K = 1 this is one
population, and nothing migrates.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

import numpy as np

from lion_search.language.parser import parse_program
from lion_search.language.program import Program
from lion_search.runs import journal_proposals
from lion_search.runs.journal import RunStore
from lion_search.runs.journal_schema import EvaluationRow
from lion_search.search.config import EvolveConfig
from lion_search.search.population import Population, RestartSource
from lion_search.search.records import Member


def island_sizes(size: int, count: int) -> list[int]:
    """A population of `size` split into `count` islands, the first size % count one larger."""
    return [size // count + (i < size % count) for i in range(count)]


class Migration(NamedTuple):
    """A member copied from island `source` to island `target`."""

    member: Member
    source: int
    target: int


class Islands:
    """The islands of a search and their best members; they draw from one `rng` (shared with
    the mutations, so that a search's choices follow one random stream)."""

    def __init__(self, count: int, size: int, tournament: int, rng: np.random.Generator):
        self.populations = [Population(share, tournament, rng)
                            for share in island_sizes(size, count)]
        self.promoted_best: Member | None = None   # the best by promoted score

    def __len__(self) -> int:
        return sum(len(p) for p in self.populations)

    @property
    def count(self) -> int:
        return len(self.populations)

    @property
    def best(self) -> Member | None:
        """The best member by proxy fitness over all islands (the lowest finite fitness; the
        first island's on a tie)."""
        bests = [p.best for p in self.populations if p.best is not None]
        return min(bests, key=lambda m: m.fitness) if bests else None

    @property
    def restarted(self) -> RestartSource | None:
        return self.populations[0].restarted

    def island_of(self, child: int) -> int:
        """The island of the `child`-th child journaled (0-based)."""
        return child % self.count

    def resume(self, members: Sequence[Sequence[Member]], best: Member | None,
               promoted_best: Member | None, seeds: Sequence[Member],
               restarted: RestartSource | None) -> None:
        """Take up a journaled search's state: each island's members oldest first, the best by
        proxy fitness and by promoted score. Each island's best starts as the best of all (what
        a restart from the best refills from), unless one of its members is better."""
        for i, population in enumerate(self.populations):
            population.resume(members[i] if i < len(members) else [], None, promoted_best, seeds,
                              restarted)
            finite = [m for m in population.members if math.isfinite(m.fitness)]
            population.best = min(finite + ([best] if best else []), key=lambda m: m.fitness,
                                  default=None)
        self.promoted_best = promoted_best

    def select_parent(self, island: int) -> Member:
        return self.populations[island].select_parent()

    def admit(self, member: Member, island: int) -> bool:
        """Add an evaluated child to its island; whether it is the new best of all islands."""
        before = self.best
        new = self.populations[island].admit(member)
        return new and (before is None or member.fitness < before.fitness)

    def rescore(self, ids: set[int], fitness: float) -> None:
        """Members `ids` (equivalent programs) now have `fitness`, on every island."""
        for population in self.populations:
            population.rescore(ids, fitness)

    def promote(self, member: Member, join: bool, island: int) -> bool:
        """A new best by promoted score: the source of restarts from the best on every island;
        with `join` it also joins `island`. Whether it is then the best by proxy fitness."""
        self.promoted_best = member
        for population in self.populations:
            population.promoted_best = member
        return self.admit(member, island) if join else False

    def restart(self, source: RestartSource) -> None:
        """Empty every island: each refills with mutants of `source` (from the best: the best
        of all islands, by promoted score first)."""
        best = self.best
        for population in self.populations:
            population.restart(source)
            if source == RestartSource.BEST:
                population.best = best

    def migrate(self, key: Callable[[Program], str]) -> list[Migration]:
        """Each island's best member that the next island in the ring does not hold (by `key`,
        the fingerprint), copied there; chosen on the islands as they were before any copy."""
        held = [{key(m.program) for m in p.members} for p in self.populations]
        moves = []
        for i, population in enumerate(self.populations):
            target = (i + 1) % self.count
            ranked = sorted((m for m in population.members if math.isfinite(m.fitness)),
                            key=lambda m: m.fitness)
            migrant = next((m for m in ranked if key(m.program) not in held[target]), None)
            if migrant is not None and target != i:
                moves.append(Migration(migrant, i, target))
        for move in moves:
            self.populations[move.target].admit(move.member)
        return moves


def journal_members(store: RunStore, config: EvolveConfig, searched: Sequence[EvaluationRow],
                    island_of: dict[int, int], after: int) -> list[list[Member]]:
    """Each island's members, oldest first, as the journal left them: its last `island_sizes`
    entrants since evaluation id `after` (the last restart), an entrant being a child evaluated
    there (`searched`: trained or a cache hit) or a migrant copied there."""
    entrants: list[list[tuple[tuple[int, int], int, float]]] = [[] for _ in range(config.islands)]
    fitness = {e.program: e.fitness for e in searched}
    for e in searched:
        if e.id > after:
            entrants[island_of.get(e.program, 0)].append(((e.id, 0), e.program, e.fitness))
    for program, _, target, at in journal_proposals.migrations(store, after):
        entrants[target].append(((at, 1), program, fitness[program]))
    return [[Member(pid, parse_program(store.program(pid).text), f)
             for _, pid, f in sorted(island)[-size:]]
            for island, size in zip(entrants, island_sizes(config.population, config.islands))]
