"""Meta-validation (search/metavalidation.py): every `every` trained evaluations the best program
is trained on the held-out task as a job, one at a time; its result is journaled (kind 'metaval')
and heard by the observer, and a best meta-validated before is journaled again from its result
without training."""
import math

import pytest

from lion_search.analysis.dedup import DedupCache
from lion_search.language.library import read_program
from lion_search.runs.journal import RunStore
from lion_search.search.jobs import EvalSpec, Scoring, train_jobs
from lion_search.search.metavalidation import MetaValidation
from lion_search.search.observer import QuietObserver
from lion_search.search.records import Member


class Heard(QuietObserver):
    def __init__(self):
        self.heard = []

    def metaval(self, task, member, fitness):
        self.heard.append((task, member.id, fitness))


@pytest.fixture
def journal(tmp_path):
    store = RunStore.create(tmp_path / "run", {"task": "quadratic"})
    program = read_program("adamw")
    pid = store.add_program(str(program), DedupCache().keys(program), None, "test", "seed")
    yield store, Member(pid, program, 1e-8)
    store.close()


def test_the_best_is_trained_on_the_held_out_task_every_few_evaluations(journal):
    store, best = journal
    observer = Heard()
    metaval = MetaValidation(store, "logreg", 5, (0,), observer)
    assert metaval.start(best, 3) == [] and metaval.start(None, 5) == []
    jobs = metaval.start(best, 5)
    assert [(j.id, j.text, j.scoring) for j in jobs] == \
        [(best.id, str(best.program), Scoring(("logreg",), (math.inf,)))]
    assert metaval.in_flight and metaval.owns(best.id) and not metaval.owns(best.id + 1)
    assert metaval.start(best, 10) == []                 # one in flight at a time
    done, = train_jobs(jobs, EvalSpec(("quadratic",), "constant", (0,)), "test")
    metaval.record(done)
    assert not metaval.in_flight
    row, = store.evaluations("metaval")
    assert (row.program, row.task, row.fitness, row.cached, row.seeds) == \
        (best.id, "logreg", done.fitness, False, "[0]")
    assert math.isfinite(done.fitness) and observer.heard == [("logreg", best.id, done.fitness)]
    # The same best again: journaled from the result, as a cache hit, with no job.
    assert metaval.start(best, 10) == []
    again = store.evaluations("metaval")[-1]
    assert (again.fitness, again.cached, again.seconds) == (done.fitness, True, 0.0)
    assert observer.heard == [("logreg", best.id, done.fitness)]


def test_without_a_task_nothing_is_meta_validated(journal):
    store, best = journal
    metaval = MetaValidation(store, None, 0, (0,), QuietObserver())
    assert metaval.start(best, 10) == [] and not metaval.in_flight
    assert store.count("metaval") == 0
