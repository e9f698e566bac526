"""The statistics of a race: one round's decision from each contender's metric values (one per seed).

Pure (numpy and scipy only), so the race, `compare` and bench/racing.py share it
and it is tested without training anything. After a round:

- the leader is the contender with the best mean (goal-aware);
- each rival is tested against the leader with Welch's one-sided t-test
  (H0: the rival is at least as good; unequal variances, as seeds of
  different settings need not spread alike);
- the rivals' p-values are adjusted with Holm's step-down method: it keeps the
  chance of dropping any rival that is not worse (the family-wise error) at
  `alpha` under any dependence between the tests, which matters because every
  test shares the leader's seeds; it is uniformly more powerful than
  Bonferroni, and exact alternatives (Dunnett) assume equal variances;
- a rival whose adjusted p-value is below `alpha` is eliminated;
- each survivor is tested for equivalence with the leader within `min_delta`
  (two one-sided tests, TOST): "all survivors are equivalent" is an
  intersection of tests, each at `alpha`, so it needs no adjustment;
- the difference (leader better = positive) gets a Welch confidence interval,
  and each contender a probability of being best: the share of bootstrap
  resamples of every contender's seeds (a fixed generator seed, so the same
  values always give the same answer) in which it has the best mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

import numpy as np

Goal = Literal["maximize", "minimize"]
BOOTSTRAP = 2000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Rival:
    """A rival against the leader: `difference` is how much better the leader is (in the goal's direction)."""

    name: str
    n: int
    mean: float
    difference: float
    ci: tuple[float, float]  # two-sided Welch interval of the difference, at the decision's ci_level
    p_value: float  # one-sided Welch: H0 the rival is at least as good as the leader
    p_holm: float
    eliminated: bool
    equivalent: bool  # within min_delta of the leader (TOST at alpha)


@dataclass(frozen=True)
class Decision:
    """One round: the leader, every rival against it, and each contender's probability of being best."""

    leader: str
    leader_mean: float
    leader_n: int
    rivals: tuple[Rival, ...]
    p_best: Mapping[str, float]
    alpha: float
    min_delta: float

    @property
    def eliminated(self) -> list[str]:
        return [r.name for r in self.rivals if r.eliminated]

    @property
    def survivors(self) -> list[str]:
        return [self.leader] + [r.name for r in self.rivals if not r.eliminated]

    @property
    def equivalent(self) -> bool:
        """Every surviving rival is within min_delta of the leader (False when there is none)."""
        alive = [r for r in self.rivals if not r.eliminated]
        return bool(alive) and all(r.equivalent for r in alive)


@dataclass(frozen=True)
class _Welch:
    difference: float
    se: float
    df: float


def _welch(a: np.ndarray, b: np.ndarray) -> _Welch:
    """Mean of a minus mean of b, its standard error and Welch-Satterthwaite degrees of freedom."""
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return _Welch(float(a.mean() - b.mean()), 0.0, math.inf)
    wa, wb = va / (va + vb), vb / (va + vb)  # as shares: tiny variances must not underflow to 0 / 0
    return _Welch(float(a.mean() - b.mean()), se, 1.0 / (wa ** 2 / (len(a) - 1) + wb ** 2 / (len(b) - 1)))


def _p_greater(diff: float, w: _Welch) -> float:
    """One-sided p-value of H0: true difference <= 0 against > 0, observed `diff`."""
    if w.se == 0:
        return 0.0 if diff > 0 else 1.0
    return float(_student_t().sf(diff / w.se, w.df))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (each compared with alpha), in the order given."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def tost(w: _Welch, min_delta: float, alpha: float) -> bool:
    """Two one-sided tests: is |true difference| < min_delta at level alpha? Never with min_delta 0."""
    if min_delta <= 0:
        return False
    lower, upper = _p_greater(w.difference + min_delta, w), _p_greater(min_delta - w.difference, w)
    return max(lower, upper) < alpha


def _interval(w: _Welch, level: float) -> tuple[float, float]:
    if w.se == 0:
        return (w.difference, w.difference)
    half = float(_student_t().ppf(0.5 + level / 2, w.df)) * w.se
    return (w.difference - half, w.difference + half)


def p_best(samples: Mapping[str, Sequence[float]], goal: Goal, resamples: int = BOOTSTRAP,
           seed: int = BOOTSTRAP_SEED) -> dict[str, float]:
    """Each contender's share of bootstrap resamples (over its seeds) in which its mean is best; ties split."""
    names = list(samples)
    sign = 1.0 if goal == "maximize" else -1.0
    rng = np.random.default_rng(seed)
    means = np.empty((resamples, len(names)))
    for j, name in enumerate(names):
        values = sign * np.asarray(samples[name], dtype=float)
        means[:, j] = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    best = means == means.max(axis=1, keepdims=True)
    share = (best / best.sum(axis=1, keepdims=True)).mean(axis=0)
    return {name: float(s) for name, s in zip(names, share)}


def decide(samples: Mapping[str, Sequence[float]], goal: Goal = "maximize", alpha: float = 0.05,
           min_delta: float = 0.0, ci_level: float = 0.95) -> Decision:
    """The round's decision over contenders `samples` (name -> metric values, one per seed).

    The differences' intervals are at `ci_level` whatever `alpha` (a race tests each round at a share of
    its error; "by how much" is said at the customary 95%): a rival dropped at alpha <= 0.025 always has
    an interval above 0.

    Every contender needs at least one value; one with fewer than two is
    never eliminated nor found equivalent (it has no spread to test with).
    Ties for the lead go to the contender listed first.
    """
    if not samples or any(len(v) == 0 for v in samples.values()):
        raise ValueError("every contender needs at least one value")
    sign = 1.0 if goal == "maximize" else -1.0
    values = {name: sign * np.asarray(v, dtype=float) for name, v in samples.items()}
    leader = max(values, key=lambda name: values[name].mean())  # max keeps the first of equals
    lead = values[leader]
    tests: list[tuple[str, _Welch | None]] = [
        (name, _welch(lead, v) if len(lead) > 1 and len(v) > 1 else None) for name, v in values.items() if name != leader]
    raw = [_p_greater(w.difference, w) if w else 1.0 for _, w in tests]
    adjusted = holm(raw)
    rivals = []
    for (name, w), p, q in zip(tests, raw, adjusted):
        diff = float(lead.mean() - values[name].mean())
        rivals.append(Rival(name, len(values[name]), sign * float(values[name].mean()), diff,
                            _interval(w, ci_level) if w else (-math.inf, math.inf), p, q,
                            eliminated=q < alpha, equivalent=bool(w) and tost(w, min_delta, alpha)))
    return Decision(leader, sign * float(lead.mean()), len(lead), tuple(rivals), p_best(samples, goal), alpha, min_delta)


def _student_t():
    """scipy's t distribution, imported when a test first needs it: scipy.stats takes 1.4 s to import,
    which every `sweep.py` would otherwise pay at start-up."""
    from scipy.stats import t

    return t
