"""The end-of-run check on held-back seeds (search/held_back.py): paired scores, the share of
the proxy gain that held up, and the one-line warning when it did not."""
import math

import pytest

from lion_search.analysis.dedup import FINGERPRINT_FACTS, tasks_runs
from lion_search.evaluation.interpreter import PROBE_STEPS_T
from lion_search.runs.journal import RunStore
from lion_search.search.config import EvolveConfig
from lion_search.search.held_back import (
    HeldBack,
    held_back_scores,
    percent,
    proxy_distinct,
    proxy_gain,
)


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
    assert proxy_distinct(rows, tasks_runs(["quadratic"])) == [rows[0].id, rows[2].id]
    probes = tuple((declared, PROBE_STEPS_T) for declared in FINGERPRINT_FACTS)
    assert proxy_distinct(rows, probes) == [row.id for row in rows]
    store.close()
