"""The end-of-run check on held-back seeds (search/held_back.py): paired scores, the share of
the proxy gain that held up, and the one-line warning when it did not."""
import math

import pytest

from lion_search.analysis.dedup import FINGERPRINT_FACTS, tasks_runs, training_keys
from lion_search.evaluation.interpreter import PROBE_STEPS_T
from lion_search.language.parser import parse_program
from lion_search.runs import journal_twins
from lion_search.runs.journal import RunStore
from lion_search.search.config import EvolveConfig
from lion_search.search.held_back import (
    HeldBack,
    held_back_scores,
    percent,
    proxy_distinct,
    proxy_gain,
)
from tests.conftest import TWINS, journal_trained


def test_held_back_scores_are_log_ratios_to_the_seed_on_the_same_runs():
    losses = {1: [[2.0, 4.0]], 7: [[1.0, 4.0]], 8: [[1.0, math.inf]]}
    scores = held_back_scores(losses, seed=1)
    assert scores[1] == 0.0
    assert scores[7] == pytest.approx((math.log(0.5) + 0.0) / 2)
    assert scores[8] == math.inf


def test_the_proxy_gain_is_a_log_ratio_for_losses_and_relative_fitness_alike():
    assert proxy_gain(-0.2, 0.0, relative=True) == pytest.approx(0.2)
    assert proxy_gain(0.5, 1.0, relative=False) == pytest.approx(math.log(2))
    assert math.isnan(proxy_gain(math.inf, 1.0, relative=False))
    assert percent(math.log(2)) == "+50.0%" and percent(-math.log(2)) == "-100.0%"


def test_a_gain_that_did_not_hold_up_earns_one_warning_line():
    weak = HeldBack((20000, 20001, 20002), ((5, 0.4, 0.1), (6, 0.2, 0.02)), 0.3, 0.06, 0.1)
    assert weak.share == pytest.approx(0.2)
    assert "held-back check: the top 2 programs by proxy fitness gain +25.9%" in weak.describe()
    assert "20% of it held up" in weak.describe()
    warning = weak.warning()
    assert "\n" not in warning and "keep 20% of their proxy gain" in warning
    strong = weak._replace(held_gain=0.25)
    assert strong.warning() is None
    assert HeldBack.from_json(weak.to_json()) == weak
    nothing = weak._replace(proxy_gain=-0.1)
    assert math.isnan(nothing.share) and nothing.warning() is None


def test_the_check_takes_one_of_each_function_on_the_proxys_tensors(tmp_path):
    """A branch for kernels (rank >= 3) is never taken on quadratic's vector: the two programs
    train alike there, so the check takes the first and the next distinct one, not both."""
    texts = ["def p(w, g, lr, t, m):\n    m = interp(g, m, 0.9)\n    return lr * m, m\n",
             "def p(w, g, lr, t, m):\n    m = interp(g, m, 0.9)\n"
             "    return lr * where(rank >= 3, sign(m), m), m\n",
             "def p(w, g, lr, t):\n    return lr * sign(g)\n"]
    store = RunStore.create(tmp_path / "run", EvolveConfig(task="quadratic").to_json())
    rows = [store.program(store.add_program(text, (f"hash {i}", f"key {i}"), None, "test",
                                            "child")) for i, text in enumerate(texts)]
    assert proxy_distinct(rows, tasks_runs(["quadratic"]), {}) == [rows[0].id, rows[2].id]
    probes = tuple((declared, PROBE_STEPS_T) for declared in FINGERPRINT_FACTS)
    assert proxy_distinct(rows, probes, {}) == [row.id for row in rows]
    store.close()


def test_the_check_takes_one_of_programs_that_trained_to_the_same_loss(tmp_path):
    """Twins train to the same loss on the same run, to the last bit; the check takes the
    first (and the next distinct program), though the fingerprints differ. Scores on other
    seeds say nothing: trained on seed 1 and seed 2, the twins are both taken."""
    runs = tasks_runs(["quadratic"])
    assert not set(training_keys(parse_program(TWINS[0]), runs)) & set(
        training_keys(parse_program(TWINS[1]), runs))
    texts = TWINS + ["def p(w, g, lr, t):\n    return lr * sign(g)\n"]
    store = RunStore.create(tmp_path / "run", EvolveConfig(task="quadratic").to_json())
    rows = journal_trained(store, texts, [(0, 1), (1,), (1,)])
    scores = journal_twins.trained_scores(store, [row.id for row in rows])
    assert scores[rows[0].id][1] == scores[rows[1].id][1]
    assert proxy_distinct(rows, runs, scores) == [rows[0].id, rows[2].id]
    assert proxy_distinct(rows, runs, {}) == [row.id for row in rows]
    apart = journal_trained(store, TWINS, [(1,), (2,)])
    assert proxy_distinct(apart, runs, journal_twins.trained_scores(store, [r.id for r in apart])) == [
        row.id for row in apart]
    store.close()


def test_a_programs_trained_scores_are_its_records_trainings(tmp_path):
    """Pooled over the programs of one fingerprint (a confirmation is journaled as a child)
    and its twins' (filed under it); a cache hit, a run again at a nudged lr and a failed run
    add no score."""
    store = RunStore.create(tmp_path / "run", EvolveConfig(task="quadratic").to_json())
    first, confirmation, other, twin = (
        store.add_program("def p(w, g, lr, t):\n    return lr * g\n", (f"hash {i}", key), None,
                          "test", "child")
        for i, key in enumerate(["same", "same", "other", "twin"]))

    def add(pid, per_seed, **how):
        store.add_evaluation(pid, kind=how.pop("kind", "search"), fitness=0.5,
                             status=how.pop("status", "ok"), task="quadratic",
                             seeds=tuple(per_seed), seconds=0.1, worker="t",
                             per_seed=per_seed, **how)

    add(first, {3: -0.25})
    add(confirmation, {4: -0.5, 5: 0.125})
    add(first, {3: -1.0}, lr_factor=1.0001)
    add(first, {6: -2.0}, cached=True)
    add(other, {7: 1.0}, status="diverged")
    add(other, {8: 2.0}, kind="promotion")
    assert journal_twins.trained_scores(store, [first, other]) == {first: {3: -0.25, 4: -0.5, 5: 0.125}}
    journal_twins.add_twin(store, "twin", {"twin": "same"})
    add(twin, {3: -0.25, 9: 0.5})
    pooled = {3: -0.25, 4: -0.5, 5: 0.125, 9: 0.5}
    assert journal_twins.trained_scores(store, [first, twin]) == {first: pooled, twin: pooled}
    assert journal_twins.trained_scores(store, []) == {}
    store.close()
