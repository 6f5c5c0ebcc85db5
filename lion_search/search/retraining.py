"""Which programs a search with a seed pool (`search.instances`) trains again, on seeds they have
not been trained on, and on which:
- re-evaluation: a parent selected in an epoch whose seeds it has not been trained on (with
  `reevaluate_parents`), on those seeds, before it has a child;
- confirmation: a leader, one of the run's `confirm_top` best records, with fewer than
  `confirm_seeds` seeds, on the seeds that give it that many, before the search proposes any
  child. Promotion and the held-back check pick only programs so `confirmed` (a leader that
  came too late for its confirmation is passed over), so that what a run promotes, checks and
  hands over was measured on several training runs, not picked as the luckiest of thousands
  of single runs (BENCHMARKS section 20).
The copy trained is journaled as a child of the program (its mutation says which kind) and
takes the fitness over all the seeds of its fingerprint."""
from __future__ import annotations

from typing import Callable, Collection

from lion_search.language.program import Program
from lion_search.search.config import EvolveConfig
from lion_search.search.instances import Instances
from lion_search.search.mutate import Mutation
from lion_search.search.records import Member

REEVALUATION = "re-evaluation"   # the mutation kind of a parent trained again on new seeds
CONFIRMATION = "confirmation"    # and of a leader trained on more seeds
RETRAINED = (REEVALUATION, CONFIRMATION)   # the kinds of a program trained again, no mutant


class Retraining:
    """The choice of programs to train again, over the seed records `instances` (None: no seed
    pool, nothing is), with `fingerprint` telling a program's record key. A leader is
    confirmed up to `confirm_seeds` seeds, or `max_seeds` if fewer."""

    def __init__(self, config: EvolveConfig, instances: Instances | None,
                 fingerprint: Callable[[Program], str]):
        self.config = config
        self.instances = instances
        self.fingerprint = fingerprint
        self.needed = min(config.confirm_seeds, config.max_seeds)

    def parent(self, parent: Member, trained: int) -> Mutation | None:
        """`parent` again, if it is to be re-evaluated on the epoch's seeds after `trained`
        evaluations (it has a record, and seeds of the epoch it has not been trained on)."""
        if self.instances is None or not self.config.reevaluate_parents:
            return None
        key = self.fingerprint(parent.program)
        if self.instances.record(key) is None or not self.instances.new_seeds(key, trained):
            return None
        return Mutation(parent.program, REEVALUATION, f"#{parent.id} on the epoch's seeds")

    def leader(self, training: Collection[str], program: Callable[[int], Program]
               ) -> tuple[Mutation, int] | None:
        """The best leader with fewer than `confirm_seeds` seeds whose key is not `training`,
        as a confirmation of its first program (`program(id)`), with that id; None if none."""
        if self.instances is None:
            return None
        for key in self.instances.leaders:
            record = self.instances.records[key]
            if len(record.scores) < self.needed and key not in training:
                pid = min(record.members)
                more = self.needed - len(record.scores)
                return Mutation(program(pid), CONFIRMATION,
                                f"#{pid}, a leader, on {more} more seeds"), pid
        return None

    def confirmed(self, key: str) -> bool:
        """Whether the programs of fingerprint `key` may be promoted and checked: trained on
        the seeds a leader is confirmed with (any, without confirmation)."""
        if self.instances is None or not self.config.confirm_top:
            return True
        record = self.instances.record(key)
        return record is not None and len(record.scores) >= self.needed

    def seeds(self, kind: str, key: str, trained: int) -> tuple[int, ...]:
        """The seeds a copy of record `key` proposed as `kind` (a mutation's kind, or its
        journaled text) trains on, after `trained` evaluations: a confirmation's, or the epoch's
        that the record lacks (none: it is a cache hit)."""
        if kind.startswith(CONFIRMATION):
            return self.instances.confirmation_seeds(key, self.needed)
        return self.instances.new_seeds(key, trained)
