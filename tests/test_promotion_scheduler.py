"""The promotion scheduler (search/promotion_scheduler.py) over a real journal (a finished
40-evaluation search on the quadratic task): the first round sweeps the seed program (each
task's centre, and the loss candidates are scored against), then rounds start on the cadence
while promotion is within its share of the training time, or when the budget is spent; a round's
jobs are its trainings on the promotion seeds, grown past an edge of a sweep while its best
lies there, and once all are in it is journaled (AdamW is tuned on a thread that starts with
the search, before the first round, with both sides' budgets); a resumed scheduler knows what
was promoted."""
import math
import shutil

import pytest

from lion_search.analysis.dedup import DedupCache
from lion_search.language.parser import parse_program
from lion_search.runs.journal import RunStore
from lion_search.search.config import EvolveConfig
from lion_search.search.jobs import EvalSpec, Scoring, train_jobs
from lion_search.search.promotion import CENTRE_GRID, PROMOTION_STEP
from lion_search.search.promotion_scheduler import PromotionScheduler, proxy_fitness
from tests.conftest import TWINS, journal_trained, small_run

CONFIG = EvolveConfig(task="quadratic", budget=40, population=8, workers=1, promote_every=10,
                      deterministic=False,
                      promote_top=2, promote_tasks="rosenbrock", promote_trials=4,
                      seed_programs=("adamw",))
SPEC = EvalSpec(CONFIG.tasks, CONFIG.schedule, CONFIG.seeds)


def drive(scheduler, jobs):
    """Train a round's jobs and the jobs that grow its sweeps, as the search does: (every job
    trained, the promoted programs the round returned)."""
    trained, queue, out = [], list(jobs), []
    while queue:
        job = queue.pop(0)
        trained.append(job)
        grown, promoted = scheduler.record(train_jobs([job], SPEC, "test")[0])
        queue += grown
        out += promoted
    assert not scheduler.in_flight
    return trained, out


@pytest.fixture(scope="module")
def promoted(tmp_path_factory):
    """A copy of the small run, with the seed's round and one round of candidates promoted by a
    scheduler: (folder, the seed round's jobs, the candidates' jobs, what the rounds returned)."""
    folder = tmp_path_factory.mktemp("scheduler") / "run"
    shutil.copytree(small_run(tmp_path_factory), folder)
    store = RunStore.open(folder)
    scheduler = PromotionScheduler(store, CONFIG, DedupCache())
    assert scheduler.resume() is None
    assert scheduler.tuning is not None     # AdamW's tuning started with the search, on a thread
    scheduler.tuning.result(timeout=300)    # (a round due before it is done waits for it)
    assert scheduler.start(5, 1.0) == []                      # not on the cadence
    seed_jobs = scheduler.start(10, 1.0)
    assert scheduler.in_flight and scheduler.start(20, 1.0) == []   # one round at a time
    seed_jobs, seed_round = drive(scheduler, seed_jobs)
    assert scheduler.start(11, 1000.0) == []              # the candidates' round: on the cadence
    jobs = scheduler.start(20, 1000.0)
    jobs, returned = drive(scheduler, jobs)
    store.close()
    return folder, seed_jobs, seed_round, jobs, returned


def test_the_first_round_sweeps_the_seed_whose_best_factor_centres_each_task(promoted):
    folder, seed_jobs, seed_round, _, _ = promoted
    store = RunStore.open(folder)
    seed_id = store.value("seeds")[0]["id"]
    assert len({j.text for j in seed_jobs}) == len(seed_jobs) >= len(CENTRE_GRID)
    assert {j.scoring for j in seed_jobs} == {
        Scoring(("rosenbrock",), (math.inf,), None, CONFIG.promote_seeds)}
    (seed,) = seed_round
    assert seed.promotion.program_id == seed_id and seed.promotion.score == 0.0
    assert not seed.new_best                # the seed does not join the population again
    (centre,) = store.value("promotion_centres")
    assert centre["task"] == "rosenbrock"
    assert centre["lr_factor"] == pytest.approx(seed.promotion.per_task[0].lr_factor)
    assert centre["loss"] == seed.promotion.per_task[0].loss
    assert store.evaluations_of(seed_id, "promoted")[0].fitness == 0.0
    store.close()


def test_a_round_trains_the_top_distinct_programs_around_the_centre(promoted):
    folder, _, _, jobs, returned = promoted
    store = RunStore.open(folder)
    (centre,) = store.value("promotion_centres")
    assert len({j.id for j in jobs}) == len(jobs) and all(j.id < 0 for j in jobs)
    assert {j.scoring for j in jobs} == {
        Scoring(("rosenbrock",), (math.inf,), None, CONFIG.promote_seeds)}
    assert len(returned) == 2
    top = [row.id for row, _ in store.best(2)]
    assert [p.promotion.program_id for p in returned] == top
    assert store.count("promoted") == 3 and store.count("promotion") == 3
    for p in returned:
        # each sweep's best factor lies inside it: at the edge only where the growth ran out
        factor = p.promotion.per_task[0].lr_factor
        if math.isnan(factor):      # it failed at every factor: the worst score
            assert p.promotion.score == math.inf
            continue
        steps = math.log(factor / centre["lr_factor"]) / math.log(PROMOTION_STEP)
        assert steps == pytest.approx(round(steps), abs=1e-6)
        assert abs(steps) <= 1 + CONFIG.promote_growth
        assert p.promotion.score == pytest.approx(
            math.log(p.promotion.per_task[0].loss / centre["loss"]))
    assert store.count("promotion-reference") == 1
    reference, = store.value("promotion_references")
    assert reference["task"] == "rosenbrock" and math.isfinite(reference["fitness"])
    assert reference["budget"]["trials"] == CONFIG.promote_trials
    assert store.value("promotion_budget")["note"].startswith("the candidates got fewer trials")
    assert store.value("promotion_seconds") > 0
    scores = {e.program: e.fitness for e in store.evaluations("promoted")}
    first, second = returned
    assert first.new_best == (scores[top[0]] < 0)
    assert second.new_best == (scores[top[1]] < min(scores[top[0]], 0))
    for p in returned:
        assert p.promotion.score == scores[p.member.id]
        assert p.member.fitness == proxy_fitness(store, p.member.id)
    store.close()


def test_promotion_waits_while_over_its_share_unless_the_budget_is_spent(promoted):
    folder, *_ = promoted
    store = RunStore.open(folder)
    scheduler = PromotionScheduler(store, CONFIG, DedupCache())
    scheduler.resume()
    assert scheduler.work == store.value("promotion_seconds") > 0
    assert scheduler.start(30, 0.0) == []                     # promotion took all the time
    jobs = scheduler.start(31, 0.0, final=True)
    assert len(jobs) == 2 * len(CONFIG.promote_grid)          # AdamW is known: not tuned again
    drive(scheduler, jobs)
    assert scheduler.start(32, 0.0, final=True) == []         # one final round
    store.close()


def test_a_resumed_scheduler_does_not_promote_a_program_twice(promoted):
    folder, *_ = promoted
    store = RunStore.open(folder)
    scheduler = PromotionScheduler(store, CONFIG, DedupCache())
    best = scheduler.resume()
    scores = {e.program: e.fitness for e in store.evaluations("promoted")}
    assert best.id == min(scores, key=scores.get)
    assert scheduler.references == (store.value("promotion_references")[0]["fitness"],)
    picks = {pid for pid, _ in scheduler.candidates(CONFIG.promote_top)}
    assert picks and not picks & set(scores)
    store.close()


def picks_among(tmp_path, texts, cache=None):
    """A round's picks among programs of these texts, in order of proxy fitness, each of which
    the search's own keys (`cache`'s, default the probes') tell apart."""
    store = RunStore.create(tmp_path / "run", CONFIG.to_json())
    cache = cache or DedupCache()
    for fitness, text in zip((0.1, 0.2, 0.3), texts):
        pid = store.add_program(text, cache.keys(parse_program(text)), None, "test", "child")
        store.add_evaluation(pid, kind="search", fitness=fitness, status="ok", task="quadratic",
                             seeds=(0,), seconds=0.1, worker="t")
    assert len({cache.keys(parse_program(t))[1] for t in texts}) == 3   # the search's keys differ
    picks = PromotionScheduler(store, CONFIG, cache).candidates(CONFIG.promote_top)
    store.close()
    return picks


def test_programs_that_differ_only_where_no_promotion_task_goes_are_promoted_once(tmp_path):
    """Programs that differ only in a branch for kernels (rank >= 3) train alike on rosenbrock's
    vector: a round picks the first of them and the next distinct program, not both."""
    texts = ["def p(w, g, lr, t, m):\n    m = interp(g, m, 0.9)\n    return lr * m, m\n",
             "def p(w, g, lr, t, m):\n    m = interp(g, m, 0.9)\n"
             "    return lr * where(rank >= 3, sign(m), m), m\n",
             "def p(w, g, lr, t):\n    return lr * sign(g)\n"]
    picks = picks_among(tmp_path, texts)
    assert [str(p).count("sign") for _, p in picks] == [0, 1] and picks[1][1].slots == 0


def test_programs_whose_state_stays_zero_from_zero_are_promoted_once(tmp_path):
    """A slot that only ever multiplies itself stays zero in training, from zero: such programs
    train as `lr * g` whatever the factor, though the search's fingerprint (from a random
    state) tells them apart. A round picks the first and the next distinct program."""
    texts = ["def p(w, g, lr, t, m):\n    m = m * 0.5\n    return lr * g + m, m\n",
             "def p(w, g, lr, t, m):\n    m = m * 0.7\n    return lr * g + m, m\n",
             "def p(w, g, lr, t):\n    return lr * sign(g)\n"]
    picks = picks_among(tmp_path, texts)
    assert [pid for pid, _ in picks] == [1, 3]


def test_promotion_tells_programs_apart_by_what_they_do_at_the_promotion_tasks_length(tmp_path):
    """On rosenbrock (T = 200) `T >= 50` and `T >= 150` take the same branch, so a round picks
    one of them; `T >= 250` takes the other there, though at the probes' own lengths (100,
    then 1,000 and more) it matches `T >= 150`, so a round picks it as well."""
    texts = [f"def p(w, g, lr, t):\n    return lr * where(T >= {threshold}, g, sign(g))\n"
             for threshold in (150, 50, 250)]
    search_keys = DedupCache(runs=((None, 100.0), (None, 200.0)))   # all three differ
    picks = picks_among(tmp_path, texts, search_keys)
    assert [pid for pid, _ in picks] == [1, 3]


def test_programs_that_trained_to_the_same_loss_are_promoted_once(tmp_path):
    """Twins (a slot read only where a running count is 0) train alike everywhere, though no
    fingerprint tells them apart; their losses on the proxy's seed 0 are equal to the last bit.
    A round picks one of them and the distinct program; a later round not the other twin."""
    store = RunStore.create(tmp_path / "run", CONFIG.to_json())
    rows = journal_trained(store, TWINS + ["def p(w, g, lr, t):\n    return lr * sign(g)\n"],
                           [(0,)] * 3)
    scheduler = PromotionScheduler(store, CONFIG, DedupCache())
    picks = scheduler.candidates(CONFIG.promote_top)
    assert sorted(pid for pid, _ in picks) == [rows[0].id, rows[2].id]
    assert scheduler.candidates(CONFIG.promote_top) == []
    store.close()
