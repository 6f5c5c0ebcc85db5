"""Rank agreement: Kendall's tau-b against a count of pairs, failures as the worst score, and the
mean rank over targets."""
import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lion_search.analysis.agreement import kendall_tau, mean_rank, ranks


def tau_b_by_pairs(x, y):
    """tau-b from its definition: (C - D) / sqrt((C + D + T_x)(C + D + T_y)), inf the worst."""
    x = [math.inf if math.isnan(v) else v for v in x]
    y = [math.inf if math.isnan(v) else v for v in y]
    c = d = tx = ty = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        dx = (x[i] > x[j]) - (x[i] < x[j])
        dy = (y[i] > y[j]) - (y[i] < y[j])
        if dx and dy:
            c, d = c + (dx == dy), d + (dx != dy)
        elif dx:
            tx += 1
        elif dy:
            ty += 1
    return (c - d) / math.sqrt((c + d + tx) * (c + d + ty))


scores = st.lists(st.sampled_from([0.1, 0.2, 0.5, 1.0, 2.0, math.inf, math.nan]),
                  min_size=2, max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_tau_counts_concordant_and_discordant_pairs(data):
    x = data.draw(scores)
    y = data.draw(st.lists(st.sampled_from([0.3, 0.4, 3.0, math.inf]), min_size=len(x),
                           max_size=len(x)))
    worst = {math.inf if math.isnan(v) else v for v in x}
    expected = math.nan if len(worst) == 1 or len(set(y)) == 1 else tau_b_by_pairs(x, y)
    got = kendall_tau(x, y)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


def test_tau_of_the_same_and_the_reverse_order():
    x = [0.3, 0.1, 2.0, 0.5]
    assert kendall_tau(x, [3, 1, 20, 5]) == pytest.approx(1.0)
    assert kendall_tau(x, [-3, -1, -20, -5]) == pytest.approx(-1.0)


def test_a_failure_ranks_below_every_finite_score():
    assert kendall_tau([0.1, 0.2, math.nan], [1.0, 2.0, 3.0]) == pytest.approx(1.0)
    assert kendall_tau([0.1, 0.2, math.inf], [1.0, 2.0, 0.5]) == pytest.approx(-1 / 3)


def test_tau_is_undefined_without_two_distinct_scores():
    assert math.isnan(kendall_tau([1.0], [2.0]))
    assert math.isnan(kendall_tau([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="same programs"):
        kendall_tau([1.0, 2.0], [1.0])


def test_ranks_share_ties_and_put_failures_last():
    assert list(ranks([0.5, math.inf, 0.1, math.nan, 0.5])) == [2.5, 4.5, 1.0, 4.5, 2.5]


def test_mean_rank_averages_each_targets_rank():
    assert list(mean_rank([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [1.0, 3.0, 2.0]])) == \
        pytest.approx([5 / 3, 7 / 3, 2.0])
    with pytest.raises(ValueError):
        mean_rank([])
