"""The search's records: a member of the population, and the statistics the live view shows."""
from __future__ import annotations

from typing import NamedTuple

from lion_search.language.program import Program


class Member(NamedTuple):
    """A member of the population."""

    id: int
    program: Program
    fitness: float


class Stats(NamedTuple):
    """What the live view shows after each result."""

    trained: int
    budget: int
    cache_hits: int
    lookups: int
    rate: float               # trained evaluations per second in this session
    best: Member | None
    seed_fitness: float
    relative: bool = False    # fitness is a mean log ratio (compare by difference)
    reevaluations: int = 0    # trainings of programs equivalent to one trained before
    equivalents: int = 0      # mutants equivalent to a program seen, mutated again
    migrations: int = 0       # members copied to the next island
