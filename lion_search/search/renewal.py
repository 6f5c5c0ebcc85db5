"""Renewing a search's islands: restarts and migrations, journaled so that a resumed run renews
alike.

- Every `restart_every` trained evaluations the islands are emptied and refill with mutants of
  `restart_from` (the seeds: independent repeats of the search; or the best).
- When the best (by promoted score; by proxy fitness when promotion is off) has not improved
  for `restart_plateau` evaluations, the islands restart from the best program (the Lion
  search's restart on a plateau). A plateau counts from the last new best or restart.
- Each restart is journaled (run value "restarts", all of them in order).
- Every `migrate_every` trained evaluations each island's best that the next island lacks is
  copied there (`Islands.migrate`).
"""
from __future__ import annotations

from typing import Callable

from lion_search.language.program import Program
from lion_search.runs import journal_proposals
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.search.config import EvolveConfig
from lion_search.search.islands import Islands
from lion_search.search.population import RestartSource

RESTARTS, IMPROVED = "restarts", "improved_at"    # the run values


def journaled_restart(store: RunStore, config: EvolveConfig) -> dict | None:
    """The last restart, {"after": evaluation id, "source": a RestartSource, "at": trained},
    or None. Older journals kept only the last restart (run value "restart"), or before
    restarts had sources only its evaluation id ("restart_after")."""
    restarts, after = store.value(RESTARTS), store.value("restart_after")
    return restarts[-1] if restarts else store.value("restart") or (
        {"after": after, "source": config.restart_from, "at": 0} if after else None)


class Renewal:
    """When the islands restart and migrate; `key(program)` is a program's fingerprint."""

    def __init__(self, store: RunStore, config: EvolveConfig, islands: Islands,
                 key: Callable[[Program], str]):
        self.store = store
        self.config = config
        self.islands = islands
        self.key = key
        self.improved_at = store.value(IMPROVED, 0)   # trained at the last new best or restart
        self.migrations = 0                           # members migrated in this session

    def improved(self, trained: int) -> None:
        """A new best (or a restart) after `trained` evaluations: a plateau counts from here."""
        self.improved_at = trained
        self.store.set_value(IMPROVED, trained)

    def after(self, trained: int) -> None:
        """After the `trained`-th trained evaluation: restart if one is due (not once the
        budget is spent), then migrate if due."""
        every, plateau = self.config.restart_every, self.config.restart_plateau
        if trained < self.config.budget:
            if every and trained % every == 0:
                self.restart(RestartSource(self.config.restart_from), trained)
            elif plateau and trained - self.improved_at >= plateau:
                self.restart(RestartSource.BEST, trained)
        every = self.config.migrate_every
        if self.islands.count > 1 and every and trained % every == 0:
            for move in self.islands.migrate(self.key):
                journal_proposals.add_migration(self.store, move.member.id, move.source,
                                                move.target)
                self.migrations += 1

    def restart(self, source: RestartSource, trained: int) -> None:
        """Restart the islands from `source`, journaled (a resumed run restarts alike)."""
        last = self.store.evaluations(EvalKind.SEARCH, last=1)[0]
        record = {"after": last.id, "source": source, "at": trained}
        self.store.set_value(RESTARTS, self.store.value(RESTARTS, []) + [record])
        self.islands.restart(source)
        self.improved(trained)
