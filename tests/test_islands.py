"""Islands, re-mutation and restarts (search/islands.py, search/evolution.py): children go round
the islands, migration copies each island's best to the next without duplicating code there, a
mutant equivalent to a program seen is mutated again, and a search restarted on a plateau,
killed and resumed, takes up its restarted islands from the journal."""
import math
import signal
import subprocess
import time

import numpy as np
import pytest

from lion_search.inspect.summary import summarize
from lion_search.language.library import read_program
from lion_search.runs import journal_proposals
from lion_search.runs.journal import RunStore
from lion_search.search import renewal
from lion_search.search.config import EvolveConfig
from lion_search.search.evolution import Search
from lion_search.search.islands import Islands
from lion_search.search.population import RestartSource
from lion_search.search.records import Member
from tests.test_search import CLI, run_search

PROGRAMS = [read_program(name) for name in ("adamw", "lion", "sgd", "momentum", "adam")]


def member(i, fitness, program=None):
    return Member(i, program or PROGRAMS[i % len(PROGRAMS)], fitness)


def islands(count=2, size=6, seed=0):
    found = Islands(count, size, 2, np.random.default_rng(seed))
    found.resume([], None, None, [member(100, 5.0)], None)
    return found


def key(program):
    return program.name


def test_each_island_is_its_own_population_and_the_best_is_over_all():
    assert [p.size for p in islands(count=4, size=10).populations] == [3, 3, 2, 2]
    isl = islands(count=3, size=9)
    assert [p.size for p in isl.populations] == [3, 3, 3]
    assert [isl.island_of(n) for n in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert isl.admit(member(1, 2.0), 0) is True
    assert isl.admit(member(2, 3.0), 1) is False     # its island's best, not the best of all
    assert isl.populations[1].best.id == 2 and isl.best.id == 1
    assert isl.admit(member(3, 1.0), 2) is True and isl.best.id == 3
    assert [len(p) for p in isl.populations] == [1, 1, 1] and len(isl) == 3


def test_migration_copies_each_best_to_the_next_island_in_a_ring():
    isl = islands(count=3, size=9)
    for i, (fitness, island) in enumerate([(1.0, 0), (2.0, 0), (3.0, 1), (0.5, 2)]):
        isl.admit(member(i, fitness), island)
    moves = isl.migrate(key)
    assert [(m.member.id, m.source, m.target) for m in moves] == [(0, 0, 1), (2, 1, 2),
                                                                     (3, 2, 0)]
    assert [[m.id for m in p.members] for p in isl.populations] == [[0, 1, 3], [2, 0], [3, 2]]


def test_migration_never_copies_code_the_target_already_holds():
    """The best of island 0 is a program island 1 holds (another id, the same code): its next
    best goes instead; a member failed (infinite fitness) never migrates."""
    isl = islands(count=2, size=8)
    adamw, lion, sgd = PROGRAMS[:3]
    isl.admit(member(1, 1.0, adamw), 0)
    isl.admit(member(2, 2.0, lion), 0)
    isl.admit(member(3, math.inf, sgd), 0)
    isl.admit(member(4, 9.0, adamw), 1)
    moves = isl.migrate(key)
    # island 1 holds adamw, so island 0's next best, lion, goes; island 0 holds adamw, so
    # island 1's only member stays
    assert [(m.member.id, m.source, m.target) for m in moves] == [(2, 0, 1)]
    for population in isl.populations:
        names = [key(m.program) for m in population.members]
        assert len(names) == len(set(names))


def test_a_promoted_best_is_every_islands_and_joins_its_own():
    isl = islands(count=2, size=6)
    isl.admit(member(10, 2.0), 0)
    assert isl.promote(member(11, 1.0), join=True, island=1) is True   # the best of all now
    assert [m.id for m in isl.populations[1].members] == [11]
    assert all(p.promoted_best.id == 11 for p in isl.populations) and isl.promoted_best.id == 11
    assert isl.promote(member(12, 3.0), join=False, island=0) is False
    assert [m.id for m in isl.populations[0].members] == [10]


def test_one_island_never_migrates():
    isl = islands(count=1, size=4)
    isl.admit(member(1, 1.0), 0)
    assert isl.migrate(key) == []


def test_a_restart_empties_every_island_and_refills_from_its_source():
    isl = islands(count=2, size=4)
    isl.admit(member(1, 1.0), 0)
    isl.admit(member(2, 2.0), 1)
    isl.restart(RestartSource.BEST)
    assert len(isl) == 0 and isl.restarted == RestartSource.BEST
    assert {isl.select_parent(i).id for i in (0, 1) for _ in range(5)} == {1}
    isl.restart(RestartSource.SEEDS)
    assert {isl.select_parent(i).id for i in (0, 1) for _ in range(5)} == {100}


def test_islands_share_the_children_and_migrants_are_journaled(tmp_path):
    store, search, stats = run_search(tmp_path / "run", budget=60, islands=2, migrate_every=15,
                                      batch_size=1)
    assert stats.trained == 60 and stats.migrations > 0
    migrations = journal_proposals.migrations(store)
    assert len(migrations) == stats.migrations
    islands_of = journal_proposals.islands(store)
    children = [row.id for row in store.programs() if row.origin == "child"]
    assert set(islands_of) == set(children)
    # children alternate between the islands in journal order
    assert [islands_of[c] for c in children] == [n % 2 for n in range(len(children))]
    assert all(target == (source + 1) % 2 for _, source, target, _ in migrations)
    summary = summarize(store)
    assert [i["island"] for i in summary["islands"]] == [0, 1]
    assert sum(i["migrants_in"] for i in summary["islands"]) == len(migrations)
    assert sum(i["children"] for i in summary["islands"]) == len(
        {e.program for e in store.evaluations("search")})
    # what a resumed search rebuilds from the journal is what the search held at its end
    held = [[m.id for m in p.members] for p in search.population.populations]
    again = Search(store, search.config)
    again.load()
    assert [[m.id for m in p.members] for p in again.population.populations] == held
    store.close()


@pytest.mark.parametrize("remutations", [0, 10])
def test_mutants_equivalent_to_programs_seen_are_mutated_again(tmp_path, remutations):
    """A random walk (tournament 1) from AdamW proposes many programs it has seen; with
    re-mutation nearly every proposal trains a new program, and the passed-over mutants are
    counted in the journal and the stats."""
    store, search, stats = run_search(tmp_path / "run", budget=60, tournament=1,
                                      remutations=remutations, batch_size=1)
    mutants, equivalents, new, trained = journal_proposals.proposal_counts(store)
    assert equivalents == stats.equivalents
    summary = summarize(store)["proposals"]
    assert summary["mutants"] == mutants and summary["equivalents"] == equivalents
    assert "equivalent to programs seen on the tensors of the run's tasks" in summary["describe"]
    if remutations:
        assert equivalents > 0 and new / mutants >= 0.9
        assert store.count("search", cached=True) <= 0.1 * mutants
        chained = [row for row in store.programs() if "; then " in row.mutation]
        assert chained
    else:
        assert equivalents == 0 and store.count("search", cached=True) > 0
    store.close()


def test_a_plateau_restart_survives_a_kill_and_the_resumed_run_takes_it_up(tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen(
        CLI + ["evolve", "--budget", "400", "--task", "quadratic", "--population", "10",
               "--workers", "1", "--promote-every", "0", "--batch-size", "1", "--islands", "2",
               "--restart-plateau", "15", "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    restart = None
    while time.time() < deadline and process.poll() is None and restart is None:
        time.sleep(0.05)
        if (out / "journal.sqlite").exists():
            store = RunStore.open(out)
            restart = (store.value("restarts") or [None])[-1]
            store.close()
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert restart is not None and restart["source"] == "best"
    store = RunStore.open(out)
    config = EvolveConfig.from_json(store.config)
    search = Search(store, config)
    search.load()
    latest = store.value("restarts")[-1]
    assert search.population.restarted == RestartSource.BEST
    assert search.renewal.improved_at >= latest["at"]
    held = [m.id for p in search.population.populations for m in p.members]
    evaluated_after = {e.program for e in store.evaluations("search") if e.id > latest["after"]}
    assert set(held) <= evaluated_after
    stats = search.run()
    assert stats.trained == 400 == store.count("search", cached=False)
    store.close()


def test_a_journal_from_before_the_restart_history_resumes_from_its_last_restart(tmp_path):
    # (journals written before "restarts" kept only the last restart, as run value "restart")
    config = EvolveConfig(budget=10, restart_plateau=5)
    store = RunStore.create(tmp_path / "run", config.to_json())
    last = {"after": 7, "source": "best", "at": 5}
    store.set_value("restart", last)
    assert renewal.journaled_restart(store, config) == last
    store.set_value("restarts", [{"after": 3, "source": "seeds", "at": 2}, last | {"at": 6}])
    assert renewal.journaled_restart(store, config)["at"] == 6
    store.close()
