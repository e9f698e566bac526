"""A race between the top settings of a sweep, replayed from the results it has so far.

Pure (no files, no TensorFlow): the confirmation strategy, `compare` and
bench/racing.py all call `replay` with what is known, so the race's state is
always rebuilt from the records and never stored. Round n gives every
surviving contender its n-th seed (repeat n - 1); when all of them have it,
every rival is tested against the leader (harness/racing/stats.py) and the
significantly worse are dropped. The race ends when one contender is left,
when every survivor is equivalent to the leader within `min_delta`, or when
the survivors have `max_repeats` seeds each.

Repeated looks at the same contenders raise the chance that some look drops
the true best by luck; `alpha` is therefore the race's error, spent evenly
over the rounds it may have (Bonferroni over looks: valid whatever the
dependence between rounds), and each round tests at alpha / rounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from harness.racing.stats import Decision, Goal, decide

ONE_LEFT, TIED, MAX_REPEATS = "one left", "tied", "max_repeats"


@dataclass(frozen=True)
class Rules:
    """How a race runs (sweep.confirm): contenders, seeds each at most, error and equivalence margin."""

    top: int = 3
    max_repeats: int = 10
    alpha: float = 0.05
    min_delta: float = 0.0
    goal: Goal = "maximize"

    def round_alpha(self, start: int) -> float:
        """The level of each round's tests: alpha over the rounds a race from `start` seeds may have."""
        return self.alpha / max(1, self.max_repeats - max(start, 2) + 1)


@dataclass
class Race:
    """Where a race stands: its rounds so far, who was dropped when, and what it waits for."""

    contenders: list[str]
    start: int  # seeds each contender had from the search
    rules: Rules
    rounds: list[tuple[int, Decision]] = field(default_factory=list)  # (seeds each, decision)
    eliminated: dict[str, int] = field(default_factory=dict)  # contender -> seeds each when dropped
    failed: list[str] = field(default_factory=list)  # contenders without a single finished value
    survivors: list[str] = field(default_factory=list)
    seeds: int = 0  # the seeds each survivor has, or is being trained to have
    ended: str | None = None  # ONE_LEFT, TIED or MAX_REPEATS; None while it runs

    @property
    def decision(self) -> Decision | None:
        return self.rounds[-1][1] if self.rounds else None

    def wanted(self) -> list[tuple[str, int]]:
        """(contender, repeat) pairs the current round needs, whether or not they already ran."""
        return [] if self.ended else [(s, rep) for s in self.survivors for rep in range(self.seeds)]


def replay(contenders: Sequence[str], results: Mapping[str, Mapping[int, float | None]], start: int,
           rules: Rules) -> Race:
    """The race over `contenders` (best first) given `results` (contender -> repeat -> metric value,
    None for a trial that finished without one, absent while it has not finished)."""
    race = Race(list(contenders), start, rules, survivors=list(contenders), seeds=max(start, 1))
    alpha = rules.round_alpha(start)
    while True:
        have = {s: results.get(s, {}) for s in race.survivors}
        if any(rep not in have[s] for s in race.survivors for rep in range(race.seeds)):
            return race  # the round is still running
        samples = {s: [v for rep in range(race.seeds) if (v := have[s][rep]) is not None] for s in race.survivors}
        race.failed += [s for s, v in samples.items() if not v]
        samples = {s: v for s, v in samples.items() if v}
        race.survivors = list(samples)
        if len(samples) > 1 and race.seeds >= 2:
            decision = decide(samples, rules.goal, alpha, rules.min_delta)
            race.rounds.append((race.seeds, decision))
            race.eliminated.update({s: race.seeds for s in decision.eliminated})
            race.survivors = decision.survivors
            if decision.equivalent and len(race.survivors) > 1:
                race.ended = TIED
        if race.ended is None and len(race.survivors) <= 1:
            race.ended = ONE_LEFT
        if race.ended is None and race.seeds >= rules.max_repeats:
            race.ended = MAX_REPEATS
        if race.ended:
            return race
        race.seeds += 1
