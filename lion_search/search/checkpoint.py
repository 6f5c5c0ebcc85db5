"""What a deterministic search journals at a checkpoint, beyond the journal's rows, so that a run
resumed there goes on as the uninterrupted run did.

A deterministic search (`EvolveConfig.reproducible`) holds its journal writes between
checkpoints: generation boundaries where nothing is in flight or queued. There it journals
(run value `checkpoint`) the generation that comes next, the children in a row that trained
nothing, and the population as it stands: its members with their fitness now, the best by
proxy fitness and by promoted score, and whether it restarted. The journal's rows alone do not
give these back: a member's fitness moves as its program gathers seeds, the best is the best
of every member ever admitted, and a promoted program that joined is its exact rewrite.
"""
from __future__ import annotations

from typing import NamedTuple

from lion_search.language.parser import parse_program
from lion_search.runs.journal import RunStore
from lion_search.search.population import Population
from lion_search.search.records import Member

CHECKPOINT = "checkpoint"      # the run value


class Checkpoint(NamedTuple):
    """The search's state at a checkpoint (see the module's docstring)."""

    generation: int
    misses: int
    members: tuple[Member, ...]
    best: Member | None
    promoted_best: Member | None
    restarted: bool


def member_json(member: Member | None) -> dict | None:
    """A member as JSON: its id, fitness and program text."""
    if member is None:
        return None
    return {"id": member.id, "fitness": member.fitness, "text": str(member.program)}


def member_from_json(data: dict | None) -> Member | None:
    """The member that `member_json` wrote."""
    if data is None:
        return None
    return Member(data["id"], parse_program(data["text"]), data["fitness"])


def take(population: Population, generation: int, misses: int) -> Checkpoint:
    """The checkpoint of a search whose next generation is `generation`."""
    return Checkpoint(generation, misses, tuple(population.members), population.best,
                      population.promoted_best, population.restarted)


def journal(store: RunStore, checkpoint: Checkpoint) -> None:
    """Journal `checkpoint` (the run value CHECKPOINT, replacing the last)."""
    store.set_value(CHECKPOINT, {
        "generation": checkpoint.generation, "misses": checkpoint.misses,
        "members": [member_json(m) for m in checkpoint.members],
        "best": member_json(checkpoint.best),
        "promoted_best": member_json(checkpoint.promoted_best),
        "restarted": checkpoint.restarted})


def load(store: RunStore) -> Checkpoint | None:
    """The journal's last checkpoint (None before the first)."""
    data = store.value(CHECKPOINT)
    if data is None:
        return None
    return Checkpoint(data["generation"], data["misses"],
                      tuple(member_from_json(m) for m in data["members"]),
                      member_from_json(data["best"]), member_from_json(data["promoted_best"]),
                      data["restarted"])


def restore(population: Population, checkpoint: Checkpoint) -> None:
    """Put `population` back as it stood at `checkpoint` (its seeds stay)."""
    population.resume(checkpoint.members, checkpoint.best, checkpoint.promoted_best,
                      population.seeds, checkpoint.restarted)
