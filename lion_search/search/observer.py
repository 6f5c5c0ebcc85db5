"""What hears the search's progress: the Observer protocol (the CLI's live view implements it),
QuietObserver (hears nothing), and the start-up phases it is told about."""
from __future__ import annotations

from typing import Protocol

from lion_search.runs.transfer import Transfer
from lion_search.search.held_back import HeldBack
from lion_search.search.promotion import Promotion
from lion_search.search.records import Member, Stats

CALIBRATING, TRAINING = "calibrating", "training"   # start-up phases after the pool's own


class Observer(Protocol):
    """Receives the search's progress (the CLI's live view implements it)."""

    def starting(self, phase: str, stats: Stats) -> None: ...
    def started(self, startup: dict) -> None: ...
    def seeds(self, seeds: list[dict]) -> None: ...
    def update(self, stats: Stats) -> None: ...
    def new_best(self, member: Member, stats: Stats) -> None: ...
    def metaval(self, task: str, member: Member, fitness: float) -> None: ...
    def promoted(self, promotion: Promotion, member: Member, best: bool,
                 screen: float | None = None) -> None: ...
    def transfer(self, transfer: Transfer) -> None: ...
    def held_back(self, check: HeldBack) -> None: ...


class QuietObserver:
    def starting(self, phase: str, stats: Stats) -> None:
        pass

    def started(self, startup: dict) -> None:
        pass

    def seeds(self, seeds: list[dict]) -> None:
        pass

    def update(self, stats: Stats) -> None:
        pass

    def new_best(self, member: Member, stats: Stats) -> None:
        pass

    def metaval(self, task: str, member: Member, fitness: float) -> None:
        pass

    def promoted(self, promotion: Promotion, member: Member, best: bool,
                 screen: float | None = None) -> None:
        pass

    def transfer(self, transfer: Transfer) -> None:
        pass

    def held_back(self, check: HeldBack) -> None:
        pass
