"""Which programs a search with a seed pool (`search.instances`) trains again, on seeds they have
not been trained on, and on which:
- re-evaluation: a parent selected in an epoch whose seeds it has not been trained on (with
  `reevaluate_parents`), on those seeds, before it has a child;
- confirmation: a leader, one of the run's `confirm_top` best records, with fewer than
  `confirm_seeds` seeds, on the seeds that give it that many, before the search proposes any
  child. Promotion and the held-back check pick only programs so `confirmed` (a leader that
  came too late for its confirmation is passed over), so that what a run promotes, checks and
  hands over was measured on several training runs, not picked as the luckiest of thousands
  of single runs (BENCHMARKS section 20);
- reproduction (with `reproduce`): a record the first time it is to be trained again (as a
  leader, or as a parent due for re-evaluation), on its first seed once more at the learning
  rate times 1 + NUDGE. That seed then scores the worse of its two runs (`instances`): a
  numerically chaotic program's first score was a lucky draw, which a run at an lr 0.012%
  away does not repeat, while a smooth program's two runs agree (AdamW's to 0.03%). It comes
  before the confirmation, which a program whose score falls away no longer needs.
The copy trained is journaled as a child of the program (its mutation says which kind) and
takes the fitness over all the seeds of its fingerprint; a reproduction's evaluation is
journaled with its lr factor."""
from __future__ import annotations

import math
from typing import Callable, Collection

from lion_search.language.program import Program
from lion_search.search.config import EvolveConfig
from lion_search.search.instances import Instances, SeedRecord
from lion_search.search.mutate import Mutation
from lion_search.search.records import Member

REEVALUATION = "re-evaluation"   # the mutation kind of a parent trained again on new seeds
CONFIRMATION = "confirmation"    # and of a leader trained on more seeds
REPRODUCTION = "reproduction"    # and of a program trained again on its first seed, lr nudged
RETRAINED = (REEVALUATION, CONFIRMATION, REPRODUCTION)   # kinds of a program trained again
NUDGE = 2.0 ** -13   # a reproduction's relative change of the learning rate
AGAIN = f"on its first seed again, at lr x (1 + 2^{math.log2(NUDGE):.0f})"   # its mutation text


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

    def unreproduced(self, record: SeedRecord) -> bool:
        """Whether `record` is still to be reproduced."""
        return self.config.reproduce and not record.repeats

    def parent(self, parent: Member, trained: int) -> Mutation | None:
        """`parent` again, if it is to be re-evaluated on the epoch's seeds after `trained`
        evaluations (it has a record, and seeds of the epoch it has not been trained on): first
        reproduced, if it is still to be, and re-evaluated when next selected."""
        if self.instances is None or not self.config.reevaluate_parents:
            return None
        key = self.fingerprint(parent.program)
        record = self.instances.record(key)
        if record is None or not self.instances.new_seeds(key, trained):
            return None
        if self.unreproduced(record):
            return Mutation(parent.program, REPRODUCTION, f"#{parent.id}, a parent, {AGAIN}")
        return Mutation(parent.program, REEVALUATION, f"#{parent.id} on the epoch's seeds")

    def leader(self, training: Collection[str], program: Callable[[int], Program]
               ) -> tuple[Mutation, int] | None:
        """The best leader whose key is not `training` and that is still to be reproduced or
        has fewer than `confirm_seeds` seeds, as a reproduction or confirmation of its first
        program (`program(id)`), with that id; None if none."""
        if self.instances is None:
            return None
        for key in self.instances.leaders:
            record = self.instances.records[key]
            if key in training:
                continue
            pid = min(record.members)
            if self.unreproduced(record):
                return Mutation(program(pid), REPRODUCTION, f"#{pid}, a leader, {AGAIN}"), pid
            if len(record.scores) < self.needed:
                more = self.needed - len(record.scores)
                return Mutation(program(pid), CONFIRMATION,
                                f"#{pid}, a leader, on {more} more seeds"), pid
        return None

    def confirmed(self, key: str) -> bool:
        """Whether the programs of fingerprint `key` may be promoted and checked: trained on
        the seeds a leader is confirmed with, and reproduced (any, without confirmation)."""
        if self.instances is None or not self.config.confirm_top:
            return True
        record = self.instances.record(key)
        return (record is not None and len(record.scores) >= self.needed
                and not self.unreproduced(record))

    def seeds(self, kind: str, key: str, trained: int) -> tuple[int, ...]:
        """The seeds a copy of record `key` proposed as `kind` (a mutation's kind, or its
        journaled text) trains on, after `trained` evaluations: a reproduction's (the record's
        first), a confirmation's, or the epoch's that the record lacks (none: a cache hit)."""
        if kind.startswith(REPRODUCTION):
            return (self.instances.records[key].first_seed,)
        if kind.startswith(CONFIRMATION):
            return self.instances.confirmation_seeds(key, self.needed)
        return self.instances.new_seeds(key, trained)


def lr_scale(kind: str) -> float:
    """The factor on the learning rate of a copy proposed as `kind` (a mutation's kind, or its
    journaled text): 1 + NUDGE for a reproduction, else 1."""
    return 1.0 + NUDGE if kind.startswith(REPRODUCTION) else 1.0
