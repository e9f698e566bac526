"""The race's statistics (harness/racing/stats.py): no training, checked against scipy and by simulation."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from harness.racing.stats import decide, holm, p_best

CLEAR = {"a": [0.98, 0.981, 0.979, 0.980], "b": [0.95, 0.951, 0.949, 0.950], "c": [0.9793, 0.9797, 0.9796, 0.9794]}


def test_a_clearly_worse_rival_is_eliminated_and_a_close_one_survives():
    d = decide(CLEAR, "maximize", alpha=0.05)
    assert d.leader == "a" and d.eliminated == ["b"] and d.survivors == ["a", "c"]
    b = next(r for r in d.rivals if r.name == "b")
    assert b.difference == pytest.approx(0.03) and b.ci[0] < 0.03 < b.ci[1] and b.ci[0] > 0


def test_the_one_sided_p_value_is_scipys_welch_test():
    d = decide(CLEAR, "maximize")
    for r in d.rivals:
        want = stats.ttest_ind(CLEAR["a"], CLEAR[r.name], equal_var=False, alternative="greater").pvalue
        assert r.p_value == pytest.approx(want)


def test_holm_matches_a_worked_example():
    # p sorted 0.01, 0.02, 0.04 with m = 3: 0.03, max(0.03, 0.04) = 0.04, max(0.04, 0.04) = 0.04
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_minimize_leads_with_the_lowest_mean():
    d = decide({"slow": [3.0, 3.1, 2.9], "fast": [1.0, 1.1, 0.9]}, "minimize")
    assert d.leader == "fast" and d.eliminated == ["slow"]
    assert d.rivals[0].difference == pytest.approx(2.0) and d.leader_mean == pytest.approx(1.0)


def test_equivalence_needs_a_margin_and_enough_seeds():
    close = {"a": [0.9801, 0.9799, 0.9800, 0.9802], "b": [0.9800, 0.9798, 0.9801, 0.9799]}
    assert decide(close, min_delta=0.002).equivalent
    assert not decide(close, min_delta=0.0).equivalent
    assert not decide({"a": [0.98, 0.90], "b": [0.97, 0.91]}, min_delta=0.002).equivalent


def test_one_seed_or_no_spread_is_handled():
    d = decide({"a": [0.9], "b": [0.5]})
    assert d.eliminated == [] and not d.equivalent and math.isinf(d.rivals[0].ci[1])
    same = decide({"a": [0.9, 0.9], "b": [0.8, 0.8], "c": [0.9, 0.9]}, min_delta=0.01)
    assert same.eliminated == ["b"] and same.rivals[1].equivalent and same.rivals[1].ci == (0.0, 0.0)
    with pytest.raises(ValueError, match="at least one value"):
        decide({"a": [0.9], "b": []})


def test_p_best_is_reproducible_and_favours_the_clear_leader():
    assert p_best(CLEAR, "maximize") == p_best(CLEAR, "maximize")
    shares = p_best(CLEAR, "maximize")
    assert shares["b"] == 0 and 0.5 < shares["a"] < 1 and 0 < shares["c"] < 0.5 and sum(shares.values()) == pytest.approx(1.0)


def test_dropping_a_setting_that_is_not_worse_stays_rare():
    """Family-wise error by simulation: 6 equal settings and one better, 4 seeds each, 400 rounds."""
    rng = np.random.default_rng(1)
    wrong = 0
    for _ in range(400):
        samples = {f"s{i}": rng.normal(0.0, 1.0, 4) for i in range(5)}
        samples["best"] = rng.normal(0.5, 1.0, 4)
        wrong += "best" in decide(samples, alpha=0.05).eliminated
    assert wrong / 400 <= 0.05


values = st.lists(st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False), min_size=2, max_size=8)
contenders = st.dictionaries(st.sampled_from("abcdef"), values, min_size=2, max_size=6)


@settings(max_examples=60, deadline=None)
@given(contenders, st.floats(0, 10), st.sampled_from([0.01, 0.05, 0.2]))
def test_minimizing_is_maximizing_the_negated_metric(samples, min_delta, alpha):
    up = decide(samples, "maximize", alpha, min_delta)
    down = decide({k: [-x for x in v] for k, v in samples.items()}, "minimize", alpha, min_delta)
    assert (up.leader, up.eliminated, up.equivalent) == (down.leader, down.eliminated, down.equivalent)
    assert up.p_best == pytest.approx(dict(down.p_best))


@settings(max_examples=60, deadline=None)
@given(contenders, st.sampled_from(["maximize", "minimize"]))
def test_a_decision_is_consistent(samples, goal):
    d = decide(samples, goal)
    sign = 1 if goal == "maximize" else -1
    assert d.leader not in d.eliminated and set(d.survivors) | set(d.eliminated) == set(samples)
    assert sum(d.p_best.values()) == pytest.approx(1.0) and all(0 <= p <= 1 for p in d.p_best.values())
    for r in d.rivals:
        assert r.difference >= -1e-9 * max(1.0, abs(d.leader_mean))  # the leader is never behind
        assert r.p_value <= r.p_holm + 1e-12 and r.p_holm <= 1
        assert r.ci[0] <= r.difference + 1e-9 <= r.ci[1] + 2e-9
        assert not r.eliminated or sign * (d.leader_mean - r.mean) > 0


@settings(max_examples=40, deadline=None)
@given(contenders, st.floats(-100, 100), st.floats(0.01, 100))
def test_the_decision_does_not_depend_on_units(samples, shift, scale):
    a = decide(samples, min_delta=0.5)
    b = decide({k: [shift + scale * x for x in v] for k, v in samples.items()}, min_delta=0.5 * scale)
    assert (a.leader, a.eliminated) == (b.leader, b.eliminated)
    for x, y in zip(a.rivals, b.rivals):
        assert x.p_value == pytest.approx(y.p_value, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(contenders, st.sampled_from([0.001, 0.01, 0.025]))
def test_a_dropped_rival_is_behind_by_the_whole_95_percent_interval(samples, alpha):
    for r in decide(samples, alpha=alpha).rivals:
        assert not r.eliminated or r.ci[0] > 0
