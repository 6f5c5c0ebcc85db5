"""Fitness over training instances (search/instances.py and the search that uses it): children
train on seeds drawn from the pool, scored paired with AdamW on the same seeds; equivalent
programs and re-evaluated parents add seeds to one record instead of inheriting a lucky number;
a resumed search rebuilds the records from the journal."""
import dataclasses
import json
import math
import shutil
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lion_search.analysis.dedup import DedupCache
from lion_search.cli import display
from lion_search.evaluation.results import WORST_FITNESS
from lion_search.inspect.summary import summarize
from lion_search.language import library
from lion_search.language.errors import LionSearchError
from lion_search.language.parser import parse_program
from lion_search.runs import journal_reproductions
from lion_search.runs.journal import RunStore
from lion_search.search.config import EvolveConfig
from lion_search.search.evolution import Search
from lion_search.search import instances as instances_module
from lion_search.search.instances import Instances
from lion_search.search.jobs import EvalSpec, Job, Scoring, train_jobs
from lion_search.search.promotion_scheduler import PromotionScheduler
from lion_search.search.records import Member
from lion_search.search.retraining import (
    CONFIRMATION,
    NUDGE,
    REEVALUATION,
    REPRODUCTION,
    RETRAINED,
    Retraining,
    lr_scale,
)
from tests.conftest import whole_search


@settings(max_examples=50, deadline=None)
@given(pool=st.integers(1, 40), per=st.integers(1, 4), most=st.integers(1, 12),
       rotate=st.integers(0, 50), trained=st.lists(st.integers(0, 2000), max_size=20),
       prior=st.sampled_from([0.0, 1.0, 2.5]))
def test_a_record_gathers_each_epochs_seeds_up_to_its_most(pool, per, most, rotate, trained,
                                                            prior):
    per, most = min(per, most, pool), min(most, pool)
    instances = Instances(pool, per, most, prior, rotate)
    for i, n in enumerate(sorted(trained)):
        epoch = instances.epoch_seeds(n)
        assert len(epoch) == len(set(epoch)) == per and all(0 <= s < pool for s in epoch)
        # every program of an epoch trains on the same seeds (common random numbers)
        assert instances.new_seeds(f"new{i}", n) == epoch
        record = instances.record("k")
        seen = set(record.scores) if record else set()
        seeds = instances.new_seeds("k", n)
        assert seeds == (() if len(seen) >= most else tuple(s for s in epoch if s not in seen))
        if seeds:
            record = instances.add("k", i, seeds, [float(s) for s in seeds], True)
            assert record.fitness == pytest.approx(
                sum(record.scores.values()) / (len(record.scores) + prior))
    record = instances.record("k")
    assert record is None or len(record.scores) <= most + per - 1


def test_the_epochs_seeds_move_through_the_pool():
    instances = Instances(4, 1, 4, rotate_every=500)
    assert [instances.epoch_seeds(n) for n in (0, 499, 500, 1999, 2000)] == [
        (0,), (0,), (1,), (3,), (0,)]
    assert Instances(4, 2, 4, rotate_every=0).epoch_seeds(10**6) == (0, 1)


def test_a_program_measured_on_one_seed_is_shrunk_toward_the_reference():
    """With a prior of one pseudo-seed at 0, one lucky run counts half; eight count 8/9."""
    instances = Instances(8, 1, 8, prior=1.0)
    lucky = instances.add("lucky", 1, (0,), (-0.3,), True)
    steady = instances.add("steady", 2, range(8), [-0.2] * 8, True)
    assert lucky.fitness == pytest.approx(-0.15)
    assert steady.fitness == pytest.approx(-0.2 * 8 / 9) and steady.fitness < lucky.fitness


def test_a_program_that_scored_exactly_what_a_record_did_on_its_seed_joins_it():
    """Twins (the same steps on the same run, though their fingerprints differ) share one
    record: its seeds, its fitness, one place among the leaders. The same score on another seed,
    a score off by one bit, a record that disagrees on a seed both trained on, a run at a
    nudged lr and a failed record make no twins."""
    instances = Instances(8, 1, 8, prior=1.0, rotate_every=10, top=3)
    first = instances.add("a", 1, (3,), (-0.25,), True)
    instances.add("a", 2, (4,), (-0.5,), True)
    assert instances.add("b", 3, (3,), (-0.25,), True) is first
    assert instances.record("b") is first and first.members == {1, 2, 3}
    assert instances.new_seeds("b", 0) == (0,) and instances.new_seeds("b", 30) == ()
    assert instances.leaders == ["a"]
    assert instances.add("c", 4, (3,), (math.nextafter(-0.25, 0),), True) is not first
    assert instances.add("d", 5, (5,), (-0.25,), True) is not first
    assert instances.add("e", 6, (3, 4), (-0.25, -0.75), True) is not first
    assert instances.add("f", 7, (6,), (-0.125,), True, repeat=True) is not first
    assert instances.add("g", 8, (6,), (-0.125,), True) is not first
    broken = instances.add("h", 9, (7,), (-1.0,), True)
    instances.add("h", 10, (0,), (), False)
    assert instances.add("i", 11, (7,), (-1.0,), True) is not broken
    assert first.fitness == pytest.approx(-0.75 / 3)
    assert sorted(instances.leaders) == sorted(set(instances.leaders)) and "b" not in (
        instances.leaders)


def test_with_its_own_spread_a_noisy_record_is_shrunk_more_than_a_steady_one():
    """Two records of the same mean on 4 seeds: shrunk by prior x its own variance over the
    run's mean variance, the steady one leads; on fewer seeds, or without own_spread, both
    take the prior; a failed record leaves the run's mean."""
    instances = Instances(8, 1, 8, prior=1.0, top=2, own_spread=4)
    steady = instances.add("steady", 1, range(4), [-0.3, -0.2, -0.3, -0.2], True)
    noisy = instances.add("noisy", 2, range(4), [-1.0, 0.5, -0.9, 0.4], True)
    young = instances.add("young", 3, range(3), [-0.25] * 3, True)
    mean = (steady.variance + noisy.variance) / 2
    assert instances.spread.mean == pytest.approx(mean)
    assert steady.fitness == pytest.approx(-1.0 / (4 + steady.variance / mean))
    assert noisy.fitness == pytest.approx(-1.0 / (4 + noisy.variance / mean))
    assert young.fitness == pytest.approx(-0.75 / 4)
    assert steady.fitness < young.fitness < noisy.fitness and instances.leaders == [
        "steady", "young"]
    instances.add("noisy", 4, (5,), (), False)
    assert instances.spread.mean == pytest.approx(steady.variance)
    plain = Instances(8, 1, 8, prior=1.0).add("noisy", 2, range(4), [-1.0, 0.5, -0.9, 0.4], True)
    assert plain.fitness == pytest.approx(-1.0 / 5)


def test_a_search_measures_its_records_own_spread_only_when_asked():
    assert instances_module.from_config(EvolveConfig()).spread is None
    asked = instances_module.from_config(EvolveConfig(own_spread=True, confirm_seeds=6))
    assert asked.spread.seeds == 6 and asked.prior == 1.0
    assert instances_module.from_config(EvolveConfig(seed_pool=0)) is None
    assert EvolveConfig.from_json(EvolveConfig(own_spread=True).to_json()).own_spread


def test_a_failed_run_fails_the_record_and_trains_it_no_more():
    """A program that diverged (or was cut at a hurdle) on one seed has the worst fitness,
    whatever its other seeds scored, and is never trained on another seed."""
    instances = Instances(8, 1, 4, rotate_every=10)
    instances.add("k", 1, (0,), (-0.5,), True)
    assert instances.new_seeds("k", 10) == (1,)
    record = instances.add("k", 2, (1,), (), False)
    assert record.failed and record.fitness == WORST_FITNESS
    assert record.members == {1, 2}
    assert instances.new_seeds("k", 20) == ()


def test_the_seed_pool_settings_are_checked_in_one_line():
    with pytest.raises(LionSearchError, match="--fitness-seeds <= --max-seeds <= --seed-pool"):
        EvolveConfig(seed_pool=4, max_seeds=8).check()
    with pytest.raises(LionSearchError, match="must lie in the seed pool 0..3"):
        EvolveConfig(seed_pool=4, max_seeds=2, seeds=(0, 7)).check()
    with pytest.raises(LionSearchError, match="--held-back-seeds must be seeds the search"):
        EvolveConfig(held_back_seeds=(3,)).check()
    with pytest.raises(LionSearchError, match="--prior-seeds must be at least 0"):
        EvolveConfig(prior_seeds=-1).check()
    with pytest.raises(LionSearchError, match="--rotate-every must be at least 0"):
        EvolveConfig(rotate_every=-1).check()
    with pytest.raises(LionSearchError, match="--seed-pool must be between 0"):
        EvolveConfig(seed_pool=-1).check()
    with pytest.raises(LionSearchError, match="--confirm-top must be at least 0"):
        EvolveConfig(confirm_top=-1).check()
    with pytest.raises(LionSearchError, match="--confirm-seeds must be at least 1, got 0"):
        EvolveConfig(confirm_seeds=0).check()
    # runs journaled before pools keep their fitness: every child on their seeds
    old = EvolveConfig.from_json({"task": "quadratic", "seeds": [0]})
    assert not old.pooled and old.promote_seeds == (0,) and old.held_back_seeds == ()
    assert old.confirm_top == 0       # nor did they confirm their leaders


@pytest.fixture(scope="module")
def pooled_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pooled") / "run"
    # Four epochs of 20; leaders confirmed on 2 seeds, so that parents selected in the last
    # two epochs lack the epoch's seed whichever programs lead (with 3, only the last epoch's
    # parents could, and whether one was selected depended on the run's path).
    config = EvolveConfig(task="quadratic", budget=80, population=8, workers=1, seed_pool=16,
                          max_seeds=4, rotate_every=20, promote_every=0, metaval_task="none",
                          held_back_top=5, seed_programs=("adamw",), confirm_seeds=2,
                          confirm_top=3, reproduce=True)
    return folder, config, whole_search(folder, config)


def test_children_train_on_pool_seeds_scored_against_adamw_on_the_same_seeds(pooled_run):
    folder, config, _ = pooled_run
    store = RunStore.open(folder)
    paired = store.value("paired_references")
    assert len(paired) == 1 and len(paired[0]) == config.seed_pool
    assert all(math.isfinite(v) and v > 0 for v in paired[0])
    (seed,) = store.value("seeds")
    assert seed["fitness"] == 0.0       # AdamW is the reference: 0 on every pool seed
    trained = [e for e in store.evaluations("search") if not e.cached]
    rows = {r.id: r for r in store.programs()}
    confirming = [rows[e.program].mutation.split(":")[0] in RETRAINED for e in trained]
    assert len(trained) == config.budget
    for e in trained:
        scores = e.seed_scores()
        if e.status == "ok":
            assert all(0 <= s < config.seed_pool for s in scores)
    # 80 evaluations, 20 an epoch: the children train on the epochs' seeds 0, 1, 2 and 3, one
    # after another (a child on the epoch's seed when it was proposed, up to a generation ahead,
    # so an epoch spent on retraining leaders and parents may have no child of its own)
    children = [(i, e) for i, (e, c) in enumerate(zip(trained, confirming)) if not c]
    used = [s for _, e in children for s in e.seed_scores()]
    assert used[0] == 0 and len(set(used)) >= 2 and set(used) <= {0, 1, 2, 3}
    for i, e in children:
        assert len(e.seed_scores()) <= config.fitness_seeds
        assert set(e.seed_scores()) <= set(range(max(i - config.generation, 0) // 20,
                                                 i // 20 + 1))
    store.close()


def test_equivalents_and_parents_add_seeds_to_one_record(pooled_run):
    """A record's fitness, journaled with each of its trainings, is the mean of its per-seed
    scores so far, a reproduced seed scoring the worse of its two runs; re-evaluations of
    parents happen; the run's best program by proxy fitness reads the newest (most seeds)
    fitness of its fingerprint."""
    folder, config, search = pooled_run
    store = RunStore.open(folder)
    rows = {r.id: r for r in store.programs()}
    by_print: dict[str, dict[int, float]] = {}
    repeats: dict[str, dict[int, float]] = {}
    for e in store.evaluations("search"):
        if e.cached or e.status != "ok":
            continue
        key = rows[e.program].fingerprint
        gathered = by_print.setdefault(key, {})
        (repeats.setdefault(key, {}) if e.lr_factor else gathered).update(e.seed_scores())
        worse = [max(v, repeats.get(key, {}).get(s, -math.inf)) for s, v in gathered.items()]
        assert e.fitness == pytest.approx(sum(worse) / (len(gathered) + config.prior_seeds))
        assert len(gathered) <= config.max_seeds
    assert any(len(g) > 1 for g in by_print.values())
    # parents are trained again: re-evaluated, or first reproduced
    assert any(r.mutation.startswith((REEVALUATION, f"{REPRODUCTION}: #{r.parent}, a parent"))
               for r in rows.values())
    (best, evaluation), = store.best(1)
    newest = max((e for e in store.evaluations("search")
                  if rows[e.program].fingerprint == best.fingerprint), key=lambda e: e.id)
    assert evaluation.fitness == newest.fitness
    assert store.best_fitness([best.id])[best.id] == newest.fitness
    store.close()


def confirmed_seeds(store: RunStore, need: int) -> dict[str, bool]:
    """Whether each fingerprint was trained on `need` seeds and reproduced, from the journal
    (the seed program's scores on the first pool seeds are journaled with it)."""
    rows = {r.id: r for r in store.programs()}
    seeds: dict[str, set[int]] = {}
    reproduced = set()
    for e in store.evaluations("seed") + store.evaluations("search"):
        if e.status == "ok" and not e.cached and e.per_seed is not None:
            seeds.setdefault(rows[e.program].fingerprint, set()).update(e.seed_scores())
            if e.lr_factor:
                reproduced.add(rows[e.program].fingerprint)
    return {key: len(s) >= need and key in reproduced for key, s in seeds.items()}


@settings(max_examples=60, deadline=None)
@given(top=st.integers(1, 6), adds=st.lists(
    st.tuples(st.integers(0, 12), st.integers(0, 7), st.floats(-2, 2), st.booleans()),
    max_size=60))
def test_the_leaders_are_always_the_best_records(top, adds):
    """However results come in (new programs, more seeds, failures), `leaders` is the `top`
    best records by fitness, ties to the first found, as a sort of all of them says."""
    instances = Instances(8, 1, 8, prior=1.0, top=top)
    for member, (program, seed, score, ok) in enumerate(adds):
        instances.add(f"p{program}", member, (seed,), (score,), ok or score > 1.5)
        alive = [k for k, r in instances.records.items() if r.scores and not r.failed]
        assert instances.leaders == sorted(alive, key=instances.standing)[:top]


def test_a_leader_is_confirmed_on_the_seeds_after_its_first():
    instances = Instances(6, 1, 6)
    instances.add("k", 1, (4,), (-0.5,), True)
    assert instances.confirmation_seeds("k", 4) == (5, 0, 1)
    instances.add("k", 2, (0,), (-0.1,), True)
    assert instances.confirmation_seeds("k", 4) == (5, 1)
    assert instances.confirmation_seeds("k", 2) == ()


def test_the_best_programs_are_confirmed_on_more_seeds(pooled_run):
    """Confirmations train leaders on the seeds after their first up to confirm_seeds, as
    children of the leader."""
    folder, config, search = pooled_run
    store = RunStore.open(folder)
    rows = {r.id: r for r in store.programs()}
    need = min(config.confirm_seeds, config.max_seeds)
    confirmations = [e for e in store.evaluations("search")
                     if rows[e.program].mutation.startswith(CONFIRMATION)]
    assert confirmations
    for e in confirmations:
        leader = rows[rows[e.program].parent]
        assert leader.fingerprint == rows[e.program].fingerprint
        assert rows[e.program].text == leader.text
        if e.status == "ok":
            assert 1 <= len(e.seed_scores()) <= need - 1
    confirmed = confirmed_seeds(store, need)
    top = store.best(config.confirm_top)
    assert any(confirmed[row.fingerprint] for row, _ in top)
    assert [search.retraining.confirmed(row.fingerprint) for row, _ in top] == [
        confirmed[row.fingerprint] for row, _ in top]
    store.close()


def test_show_lists_each_best_programs_seeds_and_their_spread(pooled_run):
    """The best programs' table shows the training runs each fitness is over, and how far
    they scatter (a chaotic program's lucky mean shows): the record's own runs."""
    folder, _, search = pooled_run
    store = RunStore.open(folder)
    rows = {r.id: r for r in store.programs()}
    top = summarize(store)["top"]
    assert any(row["seeds"] >= 2 for row in top)
    for row in top:
        record = search.instances.record(rows[row["id"]].fingerprint)
        assert row["seeds"] == len(record.scores)
        assert row["spread"] == (pytest.approx(statistics.stdev(record.scores.values()))
                                 if len(record.scores) > 1 else None)
    store.close()
    assert display.seeds_text({"seeds": 4, "spread": 0.2412}) == "4 ±0.24"
    assert display.seeds_text({"seeds": 1, "spread": None}) == "1"


def test_leaders_short_of_seeds_are_proposed_before_any_child(pooled_run, tmp_path):
    """The run's leaders that lack seeds (those that came to lead in its last generation) are
    the first proposals of the same run resumed with a larger budget, best first; then no
    leader's (children follow, or a parent retrained on the new epoch's seeds)."""
    folder, config, _ = pooled_run
    shutil.copytree(folder, tmp_path / "run")
    store = RunStore.open(tmp_path / "run")
    search = Search(store, dataclasses.replace(config, budget=config.budget + 20))
    search.load()
    short = [k for k in search.instances.leaders if not search.retraining.confirmed(k)]
    assert short
    first = [REPRODUCTION if not search.instances.records[k].repeats else CONFIRMATION
             for k in short]
    jobs = [search.propose() for _ in range(len(short) + 1)]
    rows = {r.id: r for r in store.programs()}
    proposed = [(rows[j.id].mutation.split(":")[0], rows[j.id].fingerprint) for j in jobs if j]
    assert proposed[:len(short)] == list(zip(first, short))
    assert all("a leader" not in rows[j.id].mutation for j in jobs[len(short):] if j)
    store.close()


def test_promotion_picks_only_eligible_programs(pooled_run, tmp_path):
    """Promotion's candidates are the best programs whose fingerprint the search calls
    confirmed (`Retraining.confirmed`), however well the others score."""
    folder, config, _ = pooled_run
    shutil.copytree(folder, tmp_path / "run")
    store = RunStore.open(tmp_path / "run")
    best = [row for row, _ in store.best(20)]
    allowed = {best[3].fingerprint}
    scheduler = PromotionScheduler(
        store, dataclasses.replace(config, promote_tasks="rosenbrock", promote_top=3),
        DedupCache(), lambda fingerprint: fingerprint in allowed)
    assert [pid for pid, _ in scheduler.candidates(3)] == [best[3].id]
    store.close()


def test_a_resumed_search_rebuilds_the_records(pooled_run):
    folder, config, search = pooled_run
    store = RunStore.open(folder)
    resumed = Search(store, config)
    resumed.load()
    store.close()
    for key, record in search.instances.records.items():
        again = resumed.instances.record(key)
        assert again.scores == pytest.approx(record.scores) and again.failed == record.failed
        assert again.repeats == pytest.approx(record.repeats)
        assert again.members == record.members
    assert resumed.instances.leaders == search.instances.leaders


def test_the_run_ends_with_its_top_programs_retrained_on_held_back_seeds(pooled_run):
    folder, config, _ = pooled_run
    store = RunStore.open(folder)
    check = store.value("held_back")
    assert check["seeds"] == list(config.held_back_seeds)
    assert 1 <= len(check["programs"]) <= config.held_back_top
    # the top by proxy fitness among the confirmed: trained on confirm_seeds (at most max_seeds)
    confirmed = confirmed_seeds(store, min(config.confirm_seeds, config.max_seeds))
    top = [row.id for row, _ in store.best(100) if confirmed[row.fingerprint]
           ][:config.held_back_top]
    assert [p["id"] for p in check["programs"]] == top
    retrained = {e.program for e in store.evaluations("held-back")}
    assert retrained == set(top) | {store.value("seeds")[0]["id"]}
    assert {e.seeds for e in store.evaluations("held-back")} == {"[20000, 20001, 20002]"}
    assert check["describe"].startswith(f"held-back check: the top {len(top)} programs")
    store.close()


@settings(max_examples=80, deadline=None)
@given(scores=st.dictionaries(st.integers(0, 7), st.floats(-3, 3), min_size=1),
       repeats=st.dictionaries(st.integers(0, 7), st.floats(-3, 3)))
def test_a_reproduced_seed_scores_the_worse_of_its_two_runs(scores, repeats):
    """fitness = sum over seeds of max(run, repeat) / (n + prior): a repeat never improves a
    program's fitness, and a repeat that agrees with its run leaves it as it was."""
    instances = Instances(8, 1, 8, prior=1.0, top=3)
    instances.add("k", 1, scores, scores.values(), True)
    alone = instances.records["k"].fitness
    repeated = {s: v for s, v in repeats.items() if s in scores}
    instances.add("k", 2, repeated, repeated.values(), True, repeat=True)
    record = instances.records["k"]
    worse = [max(v, repeated.get(s, -math.inf)) for s, v in scores.items()]
    assert record.fitness == pytest.approx(math.fsum(worse) / (len(scores) + 1.0))
    assert record.fitness >= alone - 1e-12
    assert record.scores == scores      # the runs at the program's own lr stay as they were
    instances.add("k", 3, scores, scores.values(), True, repeat=True)
    assert record.fitness == pytest.approx(alone)


def test_a_leader_is_reproduced_before_it_is_confirmed_and_a_parent_before_it_is_re_evaluated():
    config = EvolveConfig(task="quadratic", seed_pool=8, max_seeds=4, confirm_seeds=3,
                          confirm_top=2, rotate_every=10, reproduce=True)
    instances = Instances(8, 1, 4, prior=1.0, rotate_every=10, top=2)
    program = parse_program("def sgd(w, g, lr, t):\n    return lr * g")
    retraining = Retraining(config, instances, lambda p: "k")
    instances.add("k", 7, (0,), (-0.5,), True)
    kinds = []
    for repeat, seeds in ((True, (0,)), (False, (1, 2))):
        (mutation, pid), = [retraining.leader(set(), lambda _: program)]
        assert pid == 7 and not retraining.confirmed("k")
        assert retraining.seeds(mutation.kind, "k", 0) == seeds
        kinds.append(mutation.kind)
        instances.add("k", 8, seeds, (-0.4,) * len(seeds), True, repeat=repeat)
    assert kinds == [REPRODUCTION, CONFIRMATION]
    assert retraining.leader({"k"}, lambda _: program) is None
    assert retraining.leader(set(), lambda _: program) is None and retraining.confirmed("k")
    assert lr_scale(REPRODUCTION) == 1 + NUDGE and lr_scale(CONFIRMATION) == 1.0
    instances.add("p", 9, (0,), (0.1,), True)
    parent = Member(9, program, 0.1)
    parents = Retraining(config, instances, lambda p: "p")
    assert parents.parent(parent, 5) is None            # the epoch's seed: nothing to do
    assert parents.parent(parent, 10).kind == REPRODUCTION
    instances.add("p", 10, (0,), (0.1,), True, repeat=True)
    assert parents.parent(parent, 10).kind == REEVALUATION
    off = Retraining(dataclasses.replace(config, reproduce=False), instances, lambda p: "q")
    instances.add("q", 11, (0,), (0.2,), True)
    assert off.parent(Member(11, program, 0.2), 10).kind == REEVALUATION


def test_reproductions_train_a_program_on_its_first_seed_at_a_nudged_lr(pooled_run):
    """In a real search, each reproduction is its program again, trained on the first seed of
    its record at lr x (1 + 2^-13), journaled with that factor; its fitness takes the worse."""
    folder, config, search = pooled_run
    store = RunStore.open(folder)
    rows = {r.id: r for r in store.programs()}
    reproductions = [e for e in store.evaluations("search")
                     if rows[e.program].mutation.startswith(REPRODUCTION)]
    assert reproductions
    for e in reproductions:
        row, original = rows[e.program], rows[rows[e.program].parent]
        assert row.text == original.text and row.fingerprint == original.fingerprint
        assert e.lr_factor == 1 + NUDGE
        record = search.instances.records[row.fingerprint]
        assert json.loads(e.seeds) == [record.first_seed]
        if e.status == "ok":
            assert set(record.repeats) == {record.first_seed}
    others = [e for e in store.evaluations("search")
              if not rows[e.program].mutation.startswith(REPRODUCTION)]
    assert all(e.lr_factor is None for e in others)
    store.close()


def test_a_job_trains_at_its_lr_scale():
    """The nudge reaches the trainer: AdamW's loss moves by about its lr sensitivity times
    2^-13, and a job at twice the lr trains to another loss."""
    text = str(library.read_program("adamw"))
    spec = EvalSpec(("quadratic",), "constant", (0,))
    losses = [train_jobs([Job(0, text, Scoring(("quadratic",), (math.inf,), None, (3,), s))],
                         spec, "test")[0].per_seed[0] for s in (1.0, 1 + NUDGE, 2.0)]
    assert losses[0] != losses[1]
    assert abs(math.log(losses[1] / losses[0])) < 1e-2 < abs(math.log(losses[2] / losses[0]))


def test_show_says_how_far_the_reproductions_moved(pooled_run):
    """Each reproduction that trained is paired with its record's first run on the same seed,
    and the summary `show` prints says how far they moved."""
    folder, config, search = pooled_run
    store = RunStore.open(folder)
    rows = {r.id: r for r in store.programs()}
    trained = [e for e in store.evaluations("search") if e.lr_factor and e.status == "ok"]
    found = journal_reproductions.reproductions(store)
    assert [r.program for r in found] == [e.program for e in trained]
    for r in found:
        record = search.instances.records[rows[r.program].fingerprint]
        assert r.seed == record.first_seed and r.lr_factor == 1 + NUDGE
        assert r.score == pytest.approx(record.scores[r.seed])
    summary = summarize(store)["reproductions"]
    assert summary["programs"] == len(found)
    assert summary["worse"] == sum(r.repeat > r.score for r in found)
    assert summary["describe"].startswith(f"reproductions: {len(found)} programs trained again")
    store.close()
