"""The statistics of a race: how far each contender is from the leader, and which ones a look drops.

Pure (numpy and scipy only), so the race, its verdict and bench/racing.py share it and it is tested
without training anything. A contender's values are keyed by repeat: repeat r of every setting trains
with seed train.seed + r (the same data order, the same initial weights where shapes agree), so two
settings' values of one repeat are a pair.

- `gap` compares two contenders on the repeats both have: a paired t on their differences when they
  share at least 2 (valid whatever the correlation, and as sharp as the seeds' shared share of the
  noise makes it); otherwise Welch's unequal-variance t on all their values.
- Every interval is at one level, `pair_alpha` on each side (see there), the level the race decides at:
  a rival is dropped when its whole interval lies more than min_delta below the leader, and the
  survivors are tied when each one's interval lies within min_delta of the leader.
- `p_best`: each contender's posterior probability of the best true mean (Student t posteriors, joint
  over the repeats all of them share, so the seeds' shared noise cancels as it does in `gap`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

import numpy as np

Goal = Literal["maximize", "minimize"]
Values = Mapping[int, float]  # repeat -> metric value
DRAWS = 20000
DRAWS_SEED = 0


def pair_alpha(alpha: float, contenders: int, looks: int) -> float:
    """The one-sided level of every comparison, so that the race drops a setting within min_delta of
    the best with probability at most `alpha`, whichever and however many such settings there are.

    Dropping such a setting i needs a comparison of i with some j whose null (j is not better than i by
    more than min_delta) is true; with K contenders there are K(K-1) ordered pairs at each look, so
    Bonferroni over pairs and looks bounds the chance of any such drop by alpha, under any dependence:
    the leader picked from the same seeds it is tested on, shared seeds, a missing seed. For K = 3..6
    the critical value is within a few percent of Tukey's studentized range, which would need equal
    variances and independent settings."""
    return alpha / (max(1, looks) * max(1, contenders * (contenders - 1)))


def as_values(v: Values | Sequence[float]) -> dict[int, float]:
    """Values keyed by repeat; a plain sequence is repeats 0, 1, ..."""
    return {int(k): float(x) for k, x in (v.items() if isinstance(v, Mapping) else enumerate(v))}


@dataclass(frozen=True)
class Gap:
    """How much better `a` is than `b` (in the goal's direction), with an interval at the race's level."""

    difference: float
    low: float
    high: float
    pairs: int  # repeats both have (the paired test's n); 0 when compared unpaired (Welch)

    @property
    def paired(self) -> bool:
        return self.pairs > 0

    def worse_by_more_than(self, margin: float) -> bool:
        """b is worse than a by more than `margin`, at the interval's level."""
        return self.low > margin

    def within(self, margin: float) -> bool:
        """a and b are within `margin` of each other, at the interval's level (never with margin 0)."""
        return margin > 0 and -margin < self.low and self.high < margin


def _t_ppf(q: float, df: float) -> float:
    from scipy.stats import t  # imported at first use: scipy.stats costs 1.4 s, which sweep.py's start need not pay

    return float(t.ppf(q, df))


def gap(a: Values, b: Values, level_alpha: float, sign: float = 1.0) -> Gap:
    """a's mean minus b's (times `sign`: -1 when lower is better), and its interval: the difference plus
    or minus a one-sided `level_alpha` t quantile times its standard error. Infinite when it cannot be told."""
    common = sorted(set(a) & set(b))
    if len(common) >= 2:
        d = sign * (np.array([a[r] for r in common]) - np.array([b[r] for r in common]))
        diff, se, df, pairs = float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d))), len(d) - 1, len(d)
    elif len(a) >= 2 and len(b) >= 2:
        x, y = np.array(list(a.values())), np.array(list(b.values()))
        diff, pairs = float(sign * (x.mean() - y.mean())), 0
        va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
        se = math.sqrt(va + vb)
        wa, wb = (va / (va + vb), vb / (va + vb)) if se > 0 else (0.5, 0.5)  # shares: tiny variances must not underflow
        df = 1.0 / (wa ** 2 / (len(x) - 1) + wb ** 2 / (len(y) - 1))
    else:
        mean = lambda v: float(np.mean(list(v.values()))) if v else math.nan  # noqa: E731
        return Gap(sign * (mean(a) - mean(b)), -math.inf, math.inf, 0)
    half = _t_ppf(1 - level_alpha, df) * se if se > 0 else 0.0
    return Gap(diff, diff - half, diff + half, pairs)


@dataclass(frozen=True)
class Rival:
    """A rival against the leader, at the race's level."""

    name: str
    n: int
    mean: float
    gap: Gap  # how much better the leader is
    dropped: bool  # worse than the leader by more than min_delta
    equivalent: bool  # within min_delta of the leader


@dataclass(frozen=True)
class Decision:
    """One look: the leader (best mean) and every rival against it."""

    leader: str
    leader_mean: float
    leader_n: int
    rivals: tuple[Rival, ...]
    level_alpha: float
    min_delta: float

    @property
    def eliminated(self) -> list[str]:
        return [r.name for r in self.rivals if r.dropped]

    @property
    def survivors(self) -> list[str]:
        return [self.leader] + [r.name for r in self.rivals if not r.dropped]

    @property
    def equivalent(self) -> bool:
        """Every surviving rival is within min_delta of the leader (False when there is none)."""
        alive = [r for r in self.rivals if not r.dropped]
        return bool(alive) and all(r.equivalent for r in alive)


def mean(v: Values) -> float:
    return float(np.mean(list(v.values())))


def leader_of(samples: Mapping[str, Values], goal: Goal) -> str:
    """The contender with the best mean; ties go to the one listed first."""
    sign = 1.0 if goal == "maximize" else -1.0
    return max(samples, key=lambda name: sign * mean(samples[name]))  # max keeps the first of equals


def decide(samples: Mapping[str, Values | Sequence[float]], goal: Goal = "maximize", level_alpha: float = 0.05,
           min_delta: float = 0.0) -> Decision:
    """One look over contenders `samples` (name -> repeat -> value, or a list of values by repeat).

    Every contender needs at least one value; one that cannot be compared (fewer than two values and
    fewer than two repeats shared with the leader) is never dropped nor found equivalent."""
    if not samples or any(len(v) == 0 for v in samples.values()):
        raise ValueError("every contender needs at least one value")
    samples = {name: as_values(v) for name, v in samples.items()}
    sign = 1.0 if goal == "maximize" else -1.0
    leader = leader_of(samples, goal)
    rivals = []
    for name, v in samples.items():
        if name != leader:
            g = gap(samples[leader], v, level_alpha, sign)
            rivals.append(Rival(name, len(v), mean(v), g, dropped=g.worse_by_more_than(min_delta),
                                equivalent=g.within(min_delta)))
    lead = samples[leader]
    return Decision(leader, mean(lead), len(lead), tuple(rivals), level_alpha, min_delta)


def p_best(samples: Mapping[str, Values | Sequence[float]], goal: Goal = "maximize", draws: int = DRAWS,
           seed: int = DRAWS_SEED) -> dict[str, float]:
    """Each contender's posterior probability of having the best true mean; ties split.

    On the repeats all contenders share (at least 3): a multivariate t posterior of the means (their
    sample covariance over n, n - 1 degrees of freedom), so what the seeds share cancels. Otherwise
    independent t posteriors, one per contender (a single value: its value, no spread). A fixed
    generator seed: the same values always give the same answer."""
    values = {name: as_values(v) for name, v in samples.items()}
    names = list(values)
    sign = 1.0 if goal == "maximize" else -1.0
    rng = np.random.default_rng(seed)
    common = sorted(set.intersection(*(set(v) for v in values.values()))) if values else []
    if len(names) == 1:
        return {names[0]: 1.0}
    if len(common) >= 3:
        x = sign * np.array([[values[s][r] for s in names] for r in common])
        n = len(common)
        cov = np.cov(x, rowvar=False) / n
        z = rng.multivariate_normal(np.zeros(len(names)), cov, size=draws, method="eigh", check_valid="ignore")
        means = x.mean(axis=0) + z * np.sqrt((n - 1) / rng.chisquare(n - 1, size=(draws, 1)))
    else:
        means = np.empty((draws, len(names)))
        for j, s in enumerate(names):
            v = sign * np.array(list(values[s].values()))
            spread = v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else 0.0
            means[:, j] = v.mean() + (spread * rng.standard_t(len(v) - 1, size=draws) if spread > 0 else 0.0)
    best = means >= means.max(axis=1, keepdims=True) - 1e-15
    share = (best / best.sum(axis=1, keepdims=True)).mean(axis=0)
    return {name: float(s) for name, s in zip(names, share)}
