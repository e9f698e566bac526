"""A race between the top settings of a sweep, replayed from the results it has so far.

Pure (no files, no TensorFlow): the confirmation strategy, `compare` and
bench/racing.py all call `replay` with what is known, so the race's state is
always rebuilt from the records and never stored. The race looks at its
contenders at a few seed counts (`Rules.looks`: each look at least doubles the
seeds each survivor has, the last at max_repeats); a round trains every
survivor up to the next look at once, so that a round of one width fills a
fused group. At each look every rival is compared with the leader
(harness/racing/stats.py) and those worse by more than min_delta are dropped.
The race ends when one contender is left, when every survivor is within
min_delta of the leader, or at the last look.

Every comparison, at every look, is at one level: alpha over the ordered pairs
of contenders and the looks (stats.pair_alpha), so that a setting within
min_delta of the best is dropped with probability at most alpha.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from harness.metrics import percent
from harness.racing.stats import Decision, Goal, decide, p_best, pair_alpha

ONE_LEFT, TIED, MAX_REPEATS = "one left", "tied", "max_repeats"
MARGIN = 0.002  # the default min_delta of an accuracy metric: settings within 0.2 points are tied


def margin(metric: str, min_delta: float | None) -> float:
    """sweep.confirm.min_delta as given, else 0.2 points for an accuracy metric and 0 for any other."""
    return min_delta if min_delta is not None else (MARGIN if percent(metric) else 0.0)


@dataclass(frozen=True)
class Rules:
    """How a race runs (sweep.confirm): contenders, seeds each at most, error and equivalence margin."""

    top: int = 3
    max_repeats: int = 8  # bench/racing.py: the fewest seeds at the best rightness
    alpha: float = 0.05
    min_delta: float = MARGIN
    goal: Goal = "maximize"
    schedule: tuple[int, ...] | None = None  # the looks, when not the doubling of `looks` (bench/racing.py)

    def looks(self, start: int) -> list[int]:
        """The seeds each at which the race decides, from `start` seeds each: every doubling of start
        that leaves at least a third of max_repeats to go (and has 3 seeds or more), then max_repeats.
        From 2 seeds: max 5 -> [5]; max 10 -> [4, 10]; max 16 -> [4, 8, 16]."""
        if self.schedule:
            return sorted({n for n in self.schedule if start < n < self.max_repeats} | {self.max_repeats})
        out, n = [], max(start, 1)
        while (n := 2 * n) <= self.max_repeats * 2 / 3:
            if n >= 3:
                out.append(n)
        return out + [self.max_repeats]

    def level(self, start: int, contenders: int) -> float:
        """The one-sided level of every comparison of a race of `contenders` from `start` seeds each."""
        return pair_alpha(self.alpha, contenders, len(self.looks(start)))


@dataclass
class Race:
    """Where a race stands: its looks so far, who was dropped when, and what it waits for."""

    contenders: list[str]
    start: int  # seeds each contender had from the search
    rules: Rules
    rounds: list[tuple[int, Decision]] = field(default_factory=list)  # (seeds each, decision) per look taken
    eliminated: dict[str, int] = field(default_factory=dict)  # contender -> seeds each when dropped
    failed: list[str] = field(default_factory=list)  # contenders without a single finished value
    survivors: list[str] = field(default_factory=list)
    seeds: int = 0  # the seeds each survivor has, or is being trained to have
    ended: str | None = None  # ONE_LEFT, TIED or MAX_REPEATS; None while it runs
    values: dict[str, dict[int, float]] = field(default_factory=dict)  # contender -> repeat -> value, as raced

    @property
    def decision(self) -> Decision | None:
        return self.rounds[-1][1] if self.rounds else None

    @property
    def level(self) -> float:
        return self.rules.level(self.start, len(self.contenders))

    def p_best(self) -> dict[str, float]:
        """Each contender's probability of the best true mean, from the survivors' values (those dropped
        were shown worse, at the race's level: 0)."""
        alive = {s: self.values[s] for s in self.survivors if s in self.values}
        chances = p_best(alive, self.rules.goal) if alive else {}
        return {s: chances.get(s, 0.0) for s in self.contenders}

    def wanted(self) -> list[tuple[str, int]]:
        """(contender, repeat) pairs the current round needs, whether or not they already ran."""
        return [] if self.ended else [(s, rep) for s in self.survivors for rep in range(self.seeds)]


def replay(contenders: Sequence[str], results: Mapping[str, Mapping[int, float | None]], start: int,
           rules: Rules) -> Race:
    """The race over `contenders` (best first) given `results` (contender -> repeat -> metric value,
    None for a trial that finished without one, absent while it has not finished)."""
    race = Race(list(contenders), start, rules, survivors=list(contenders))
    looks = rules.looks(start)
    if len(contenders) < 2:  # nothing to race: the search's seeds are the answer
        looks = [start]
    for k, seeds in enumerate(looks):
        race.seeds = seeds
        have = {s: results.get(s, {}) for s in race.survivors}
        if any(rep not in have[s] for s in race.survivors for rep in range(seeds)):
            return race  # the round is still running
        samples = {s: {rep: v for rep in range(seeds) if (v := have[s][rep]) is not None} for s in race.survivors}
        race.failed += [s for s, v in samples.items() if not v]
        race.values.update({s: v for s, v in samples.items() if v})
        samples = {s: v for s, v in samples.items() if v}
        race.survivors = list(samples)
        if len(samples) > 1:
            decision = decide(samples, rules.goal, race.level, rules.min_delta)
            race.rounds.append((seeds, decision))
            race.eliminated.update({s: seeds for s in decision.eliminated})
            race.survivors = decision.survivors
            if decision.equivalent and len(race.survivors) > 1:
                race.ended = TIED
        if race.ended is None and len(race.survivors) <= 1:
            race.ended = ONE_LEFT
        if race.ended is None and k == len(looks) - 1:
            race.ended = MAX_REPEATS
        if race.ended:
            return race
    return race
