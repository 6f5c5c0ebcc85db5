"""What a deterministic search journals at a checkpoint, beyond the journal's rows, so that a run
resumed there goes on as the uninterrupted run did.

A deterministic search (`EvolveConfig.reproducible`) holds its journal writes between
checkpoints: generation boundaries where nothing is in flight or queued. There it journals
(run value `checkpoint`) the generation that comes next, the children in a row that trained
nothing, and the islands as they stand: each island's members with their fitness now and its
best by proxy fitness, the best by promoted score, and the source of the last restart. The
journal's rows alone do not give these back: a member's fitness moves as its program gathers
seeds, an island's best is the best of every member it ever admitted, and a promoted program
that joined is its exact rewrite.
"""
from __future__ import annotations

from typing import NamedTuple

from lion_search.language.parser import parse_program
from lion_search.runs.journal import RunStore
from lion_search.search.islands import Islands
from lion_search.search.population import RestartSource
from lion_search.search.records import Member

CHECKPOINT = "checkpoint"      # the run value


class Checkpoint(NamedTuple):
    """The search's state at a checkpoint (see the module's docstring): per island, its
    members (oldest first) and its best."""

    generation: int
    misses: int
    islands: tuple[tuple[tuple[Member, ...], Member | None], ...]
    promoted_best: Member | None
    restarted: RestartSource | None


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


def take(islands: Islands, generation: int, misses: int) -> Checkpoint:
    """The checkpoint of a search whose next generation is `generation`."""
    return Checkpoint(generation, misses,
                      tuple((tuple(p.members), p.best) for p in islands.populations),
                      islands.promoted_best, islands.restarted)


def journal(store: RunStore, checkpoint: Checkpoint) -> None:
    """Journal `checkpoint` (the run value CHECKPOINT, replacing the last)."""
    store.set_value(CHECKPOINT, {
        "generation": checkpoint.generation, "misses": checkpoint.misses,
        "islands": [{"members": [member_json(m) for m in members], "best": member_json(best)}
                    for members, best in checkpoint.islands],
        "promoted_best": member_json(checkpoint.promoted_best),
        "restarted": checkpoint.restarted})


def load(store: RunStore) -> Checkpoint | None:
    """The journal's last checkpoint (None before the first)."""
    data = store.value(CHECKPOINT)
    if data is None:
        return None
    return Checkpoint(data["generation"], data["misses"],
                      tuple((tuple(member_from_json(m) for m in island["members"]),
                             member_from_json(island["best"])) for island in data["islands"]),
                      member_from_json(data["promoted_best"]),
                      None if data["restarted"] is None else RestartSource(data["restarted"]))


def restore(islands: Islands, checkpoint: Checkpoint) -> None:
    """Put the islands back as they stood at `checkpoint` (their seeds stay)."""
    for population, (members, best) in zip(islands.populations, checkpoint.islands):
        population.resume(members, best, checkpoint.promoted_best, population.seeds,
                          checkpoint.restarted)
    islands.promoted_best = checkpoint.promoted_best
