"""Reproducible searches (search/evolution.py, deterministic): the same settings give the same
journal, field by field (program texts, keys, parents, mutations, origins; every evaluation's
program, kind, fitness, status, cache hit, task, seeds, lr factor and per-seed scores, in
journal order; not wall times or worker names), with one worker by default, with two and
--deterministic, and after a run stopped or killed at any moment was resumed."""
import random
import signal
import subprocess
import time

import pytest

from lion_search.language.errors import LionSearchError
from lion_search.runs import journal_proposals
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.search import generations
from lion_search.search.config import EvolveConfig
from lion_search.search.evolution import Search
from tests.conftest import whole_search
from tests.test_search import CLI, cli

# Small, but with everything that could make two runs differ: re-mutations and re-evaluations
# on a seed pool, islands and their migrations, restarts on a plateau, promotion rounds (with
# AdamW's tuning) and meta-validation on the cadence, and the held-back check at the end.
SETTINGS = {"task": "quadratic", "budget": 60, "population": 8, "generation": 4,
            "promote_every": 20, "promote_tasks": "rosenbrock", "promote_trials": 4,
            "metaval_task": "logreg", "metaval_every": 20, "islands": 2, "migrate_every": 10,
            "restart_plateau": 25}


def journal_rows(folder) -> tuple[list[tuple], list[tuple]]:
    """A journal's programs (with each child's island) and evaluations (all kinds, by id), and
    its migrations, without times and workers."""
    store = RunStore.open(folder)
    try:
        islands = journal_proposals.islands(store)
        programs = [(p.id, p.text, p.hash, p.fingerprint, p.parent, p.mutation, p.origin,
                     islands.get(p.id)) for p in store.programs()]
        programs += [("migration", *m) for m in journal_proposals.migrations(store)]
        evaluations = sorted((e.id, e.program, e.kind, e.fitness, e.status, e.cached, e.task,
                              e.seeds, e.lr_factor, e.per_seed)
                             for kind in EvalKind for e in store.evaluations(kind))
    finally:
        store.close()
    return programs, evaluations


def assert_same_journal(folder, other) -> None:
    """Two journals hold the same rows; the first that differs is named."""
    for table, rows, others in zip(("programs", "evaluations"), journal_rows(folder),
                                   journal_rows(other)):
        for row, twin in zip(rows, others):
            assert row == twin, f"{table} differ first at id {row[0]}"
        assert len(rows) == len(others), f"{table}: {len(rows)} rows against {len(others)}"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """A whole deterministic search with one worker (deterministic by default)."""
    folder = tmp_path_factory.mktemp("reproducible") / "run"
    search = whole_search(folder, EvolveConfig(workers=1, **SETTINGS))
    assert search.deterministic and search.trained == SETTINGS["budget"]
    return folder


def test_one_worker_reproduces_by_default(uninterrupted, tmp_path):
    whole_search(tmp_path / "again", EvolveConfig(workers=1, **SETTINGS))
    assert_same_journal(uninterrupted, tmp_path / "again")
    kinds = {e[2] for e in journal_rows(uninterrupted)[1]}
    assert {EvalKind.PROMOTED, EvalKind.METAVAL, EvalKind.HELD_BACK} <= kinds   # all of it ran
    programs = journal_rows(uninterrupted)[0]
    assert any(row[0] == "migration" for row in programs)


def test_two_deterministic_workers_do_the_same_work_as_one(uninterrupted, tmp_path):
    search = whole_search(tmp_path / "two", EvolveConfig(workers=2, deterministic=True,
                                                         **SETTINGS))
    assert search.pool.threads == 2
    assert_same_journal(uninterrupted, tmp_path / "two")


@pytest.mark.parametrize("polls", [2, 10, 20])
def test_a_stopped_deterministic_run_resumes_as_if_it_had_not_stopped(uninterrupted, tmp_path,
                                                                      polls):
    """Stopped after `polls` polls of stop(): what it wrote since its last checkpoint is
    dropped (as a killed run's is), and the resumed run journals what the uninterrupted one
    did."""
    config = EvolveConfig(workers=2, deterministic=True, **SETTINGS)
    store = RunStore.create(tmp_path / "run", config.to_json())
    search = Search(store, config)
    search.setup()
    search.load()
    asked = []
    stats = search.run(stop=lambda: asked.append(1) or len(asked) > polls)
    assert stats.trained == store.count(EvalKind.SEARCH, cached=False) < config.budget
    assert not store.pending()          # the journal is at a checkpoint: nothing in flight
    search = Search(store, config)
    search.load()
    assert search.run().trained == config.budget
    store.close()
    assert_same_journal(uninterrupted, tmp_path / "run")


def test_held_writes_are_seen_by_no_other_reader_and_dropped_unless_kept(tmp_path):
    store = RunStore.create(tmp_path / "run", {})
    reader = RunStore.open(tmp_path / "run")
    store.hold()
    first = store.add_program("def f(w, g, lr, t):\n    return lr * g\n", ("h", "f"), None,
                              "seed", "seed")
    assert store.program(first).id == first and reader.count(EvalKind.SEARCH) == 0
    assert [p.id for p in reader.programs()] == []
    store.release(keep=False)
    assert [p.id for p in store.programs()] == []
    store.hold()
    again = store.add_program("def f(w, g, lr, t):\n    return lr * g\n", ("h", "f"), None,
                              "seed", "seed")
    store.set_value("x", 1)
    store.release()
    assert again == first and [p.id for p in reader.programs()] == [first]
    assert reader.value("x") == 1
    reader.close()
    store.close()


def test_a_run_is_deterministic_as_it_was_created_whatever_it_resumes_with():
    assert EvolveConfig(workers=1).reproducible and not EvolveConfig(workers=2).reproducible
    assert EvolveConfig(workers=1).pinned().deterministic is True
    assert EvolveConfig(workers=2).pinned().deterministic is False
    pinned = EvolveConfig(workers=1).pinned().to_json()
    assert EvolveConfig.from_json({**pinned, "workers": 2}).reproducible
    old = {k: v for k, v in pinned.items() if k != "deterministic"}
    assert not EvolveConfig.from_json(old).reproducible     # journaled before: asynchronous
    with pytest.raises(LionSearchError, match="--generation must be at least 1"):
        EvolveConfig(generation=0).check()


@pytest.mark.slow
def test_a_killed_deterministic_command_resumes_to_the_same_journal(tmp_path):
    """`evolve --workers 2 --deterministic`, killed (SIGKILL) at a random moment and resumed,
    against the same command uninterrupted."""
    args = ["evolve", "--task", "quadratic", "--budget", "150", "--population", "8",
            "--generation", "8", "--promote-every", "30", "--promote-tasks", "rosenbrock",
            "--promote-trials", "4", "--metaval-task", "logreg", "--workers", "2",
            "--deterministic"]
    assert cli(*args, "--out", str(tmp_path / "whole")).returncode == 0
    out = tmp_path / "killed"
    process = subprocess.Popen(CLI + args + ["--out", str(out)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    target, deadline = random.Random().randint(10, 120), time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if (out / "journal.sqlite").exists() and has_trained(out, target):
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    result = cli("evolve", "--out", str(out), "--resume")
    assert result.returncode == 0, result.stderr
    assert_same_journal(tmp_path / "whole", out)


def has_trained(folder, n: int) -> bool:
    """Whether the run in `folder` has committed `n` trained evaluations."""
    store = RunStore.open(folder)
    try:
        return store.count(EvalKind.SEARCH, cached=False) >= n
    finally:
        store.close()


def test_the_next_generation_is_with_the_workers_while_one_trains(tmp_path):
    """Generation k+1 is proposed and sent before generation k is filed, so the workers have
    the next jobs while a generation's last ones finish: up to two generations of children are
    in flight at once, never more."""
    config = EvolveConfig(task="quadratic", budget=120, population=8, generation=8, workers=2,
                          deterministic=True, promote_every=0)
    store = RunStore.create(tmp_path / "run", config.to_json())
    search = Search(store, config)
    search.setup()
    search.load()
    in_flight, take = [], search.take

    def counting_take(done):
        in_flight.append(len(search.pending))
        take(done)

    search.take = counting_take
    search.run()
    store.close()
    assert search.trained == config.budget
    assert config.generation < max(in_flight) <= 2 * config.generation


def test_children_go_on_while_a_collaborators_job_trains(tmp_path):
    """A collaborator's job (a promotion's training, a meta-validation) sent with generation k
    is filed after the children of generation k + COLLABORATOR_LAG, or when the generations
    settle at the end: the children between do not wait behind a promotion's long trainings,
    and nothing waits longer than that."""
    config = EvolveConfig(workers=2, deterministic=True, **SETTINGS)
    store = RunStore.create(tmp_path / "run", config.to_json())
    search = Search(store, config)
    search.setup()
    search.load()
    steps = search.generations
    sent_at, filed, settled = {}, [], set()
    propose, file, take = steps.next, steps.train, search.take

    def recording_next(*args, **kwargs):
        jobs = propose(*args, **kwargs)
        sent_at.update((job.id, (steps.filings, len(filed))) for job in jobs or [])
        return jobs

    def recording_train(jobs, stop, settle=False):
        if settle:
            settled.add(steps.filings + 1)
        return file(jobs, stop, settle)

    def recording_take(done):
        filed.append((done.id, done.id in search.pending, steps.filings))
        take(done)

    steps.next, steps.train, search.take = recording_next, recording_train, recording_take
    search.run()
    store.close()
    # A job sent while generation k-1 trains goes with generation k: its lag counts from there.
    lag = 2 + generations.COLLABORATOR_LAG
    lags, children_meanwhile = [], []
    for position, (job, child, at) in enumerate(filed):
        if not child and job in sent_at:
            sent, before = sent_at[job]
            assert at - sent == lag or at in settled and at - sent < lag
            lags.append(at - sent)
            children_meanwhile.append(sum(c for _, c, _ in filed[before:position]))
    assert lag in lags
    assert max(children_meanwhile) >= generations.COLLABORATOR_LAG * config.generation
