"""The race's statistics (harness/racing/stats.py): no training, checked against scipy and by simulation."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from harness.racing.stats import decide, gap, p_best, pair_alpha

CLEAR = {"a": [0.98, 0.981, 0.979, 0.980], "b": [0.951, 0.950, 0.949, 0.950], "c": [0.9793, 0.9797, 0.9796, 0.9794]}


def test_a_clearly_worse_rival_is_dropped_and_a_close_one_kept():
    d = decide(CLEAR, "maximize", level_alpha=0.01)
    assert d.leader == "a" and d.eliminated == ["b"] and d.survivors == ["a", "c"]
    b = next(r for r in d.rivals if r.name == "b")
    assert b.gap.difference == pytest.approx(0.03) and 0 < b.gap.low < 0.03 < b.gap.high and b.gap.paired


def test_a_paired_interval_is_scipys_paired_t_and_an_unpaired_one_welchs():
    a, b = [0.97, 0.975, 0.962, 0.971, 0.969], [0.968, 0.970, 0.961, 0.966, 0.967]
    g = gap(dict(enumerate(a)), dict(enumerate(b)), 0.01)
    want = stats.ttest_rel(a, b).confidence_interval(confidence_level=0.98)
    assert g.pairs == 5 and (g.low, g.high) == (pytest.approx(want.low), pytest.approx(want.high))
    apart = gap(dict(enumerate(a)), {10 + i: v for i, v in enumerate(b)}, 0.01)  # no repeat in common
    want = stats.ttest_ind(a, b, equal_var=False).confidence_interval(confidence_level=0.98)
    assert apart.pairs == 0 and (apart.low, apart.high) == (pytest.approx(want.low), pytest.approx(want.high))


def test_shared_seeds_separate_what_welch_cannot():
    """Seed r moves every setting alike (the harness's shared data order and initial weights): paired on
    the seeds, a steady gap of 0.3 points shows; compared unpaired, the seeds' spread hides it."""
    rng = np.random.default_rng(0)
    seed = rng.normal(0, 0.01, 8)
    a, b = 0.97 + seed + rng.normal(0, 0.0005, 8), 0.967 + seed + rng.normal(0, 0.0005, 8)
    paired = gap(dict(enumerate(a)), dict(enumerate(b)), 0.01)
    unpaired = gap(dict(enumerate(a)), {8 + i: v for i, v in enumerate(b)}, 0.01)
    assert paired.low > 0 > unpaired.low


def test_the_level_is_alpha_over_ordered_pairs_and_looks():
    assert pair_alpha(0.05, 3, 2) == pytest.approx(0.05 / 12)
    assert pair_alpha(0.05, 6, 1) == pytest.approx(0.05 / 30)
    assert pair_alpha(0.05, 1, 1) == 0.05


def test_minimize_leads_with_the_lowest_mean():
    d = decide({"slow": [3.0, 3.1, 2.9], "fast": [1.0, 1.1, 0.9]}, "minimize", 0.05)
    assert d.leader == "fast" and d.eliminated == ["slow"]
    assert d.rivals[0].gap.difference == pytest.approx(2.0) and d.leader_mean == pytest.approx(1.0)


def test_tied_needs_a_margin_and_enough_seeds():
    close = {"a": [0.9801, 0.9799, 0.9800, 0.9802], "b": [0.9800, 0.9798, 0.9801, 0.9799]}
    assert decide(close, level_alpha=0.01, min_delta=0.002).equivalent
    assert not decide(close, level_alpha=0.01, min_delta=0.0).equivalent  # margin 0: never tied
    assert not decide({"a": [0.98, 0.90], "b": [0.97, 0.91]}, level_alpha=0.01, min_delta=0.002).equivalent


def test_one_seed_no_spread_and_a_missing_seed_are_handled():
    d = decide({"a": [0.9], "b": [0.5]})
    assert d.eliminated == [] and not d.equivalent and math.isinf(d.rivals[0].gap.high)
    same = decide({"a": [0.9, 0.9], "b": [0.8, 0.8], "c": [0.9, 0.9]}, min_delta=0.01)
    assert same.eliminated == ["b"] and same.rivals[1].equivalent and (same.rivals[1].gap.low, same.rivals[1].gap.high) == (0, 0)
    holes = decide({"a": {0: 0.98, 1: 0.97, 2: 0.975}, "b": {0: 0.96, 2: 0.955}}, level_alpha=0.05)
    assert holes.rivals[0].gap.pairs == 2  # compared on the seeds both have
    with pytest.raises(ValueError, match="at least one value"):
        decide({"a": [0.9], "b": []})


def test_p_best_is_reproducible_and_favours_the_clear_leader():
    assert p_best(CLEAR, "maximize") == p_best(CLEAR, "maximize")
    shares = p_best(CLEAR, "maximize")
    assert shares["b"] < 1e-3 and 0.5 < shares["a"] < 1 and 0 < shares["c"] < 0.5
    assert sum(shares.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("shared", [0.0, 0.5])
def test_with_equal_settings_a_look_drops_any_of_them_at_most_alpha_of_the_time(shared):
    """The guarantee, by simulation: 6 equal settings, 5 seeds each with `shared` of the variance from the
    seed, one look at the race's level; the leader is picked from the same seeds it is tested on."""
    rng = np.random.default_rng(1)
    level = pair_alpha(0.05, 6, 1)
    runs, any_drop = 600, 0
    for _ in range(runs):
        seed = rng.normal(0, 1, 5) * math.sqrt(shared)
        samples = {f"s{i}": seed + rng.normal(0, 1, 5) * math.sqrt(1 - shared) for i in range(6)}
        any_drop += bool(decide(samples, level_alpha=level).eliminated)
    assert any_drop / runs <= 0.05


values = st.lists(st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False), min_size=1, max_size=8)
missing = st.dictionaries(st.integers(0, 9), st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False),
                          min_size=1, max_size=8)
contenders = st.dictionaries(st.sampled_from("abcdef"), values | missing, min_size=2, max_size=6)


@settings(max_examples=60, deadline=None)
@given(contenders, st.floats(0, 10), st.sampled_from([0.001, 0.01, 0.05]))
def test_minimizing_is_maximizing_the_negated_metric(samples, min_delta, level):
    neg = {k: ({r: -x for r, x in v.items()} if isinstance(v, dict) else [-x for x in v]) for k, v in samples.items()}
    up, down = decide(samples, "maximize", level, min_delta), decide(neg, "minimize", level, min_delta)
    assert (up.leader, up.eliminated, up.equivalent) == (down.leader, down.eliminated, down.equivalent)
    assert p_best(samples, "maximize") == pytest.approx(p_best(neg, "minimize"), abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(contenders, st.sampled_from(["maximize", "minimize"]), st.floats(0, 5), st.sampled_from([0.001, 0.01]))
def test_a_decision_is_what_its_intervals_say(samples, goal, min_delta, level):
    d = decide(samples, goal, level, min_delta)
    chances = p_best(samples, goal)
    assert d.leader not in d.eliminated and set(d.survivors) | set(d.eliminated) == set(samples)
    assert sum(chances.values()) == pytest.approx(1.0) and all(0 <= p <= 1 for p in chances.values())
    for r in d.rivals:
        g = r.gap
        assert g.low <= g.difference + 1e-9 * max(1, abs(g.difference)) and g.difference <= g.high + 1e-9 * max(1, abs(g.difference))
        assert r.dropped == (g.low > min_delta)  # dropped exactly when the interval is past the margin
        assert not r.equivalent or (min_delta > 0 and -min_delta < g.low and g.high < min_delta)
    repeats = {frozenset(range(len(v))) if isinstance(v, list) else frozenset(v) for v in samples.values()}
    if len(repeats) == 1:  # every contender on the same seeds: the best mean is never behind on them
        assert all(r.gap.difference >= -1e-9 * max(1.0, abs(d.leader_mean)) for r in d.rivals)


@settings(max_examples=40, deadline=None)
@given(contenders, st.floats(-100, 100), st.floats(0.01, 100))
def test_the_decision_does_not_depend_on_units(samples, shift, scale):
    moved = {k: ({r: shift + scale * x for r, x in v.items()} if isinstance(v, dict) else [shift + scale * x for x in v])
             for k, v in samples.items()}
    a, b = decide(samples, level_alpha=0.01, min_delta=0.5), decide(moved, level_alpha=0.01, min_delta=0.5 * scale)
    if a.leader == b.leader:  # (near-equal means may swap the lead under rounding)
        assert a.eliminated == b.eliminated or any(
            abs(x.gap.low - 0.5) < 1e-6 * max(1, abs(x.gap.low)) for x in a.rivals)
