"""Packing compatible trials into fused groups, each started as one unit on one worker slot.

`sweep.fuse` (or `--fuse`): `auto` fuses up to AUTO_MEMBERS trials wherever
training/fusion/rule.py allows it (MLPs and softmax regression: measured faster
here at every width tried, bench/fusion.py; never the CNN), `off` never, N up
to N members. The packer sits between the scheduler and the
strategy: it asks the strategy for trials, holds back those that do not fit the
group it is filling, and hands out a Group (or a lone TrialSpec). A strategy
that plans every trial up front is asked ahead freely (its plan does not
change); one that chooses from results (tpe) is asked at most one group ahead,
the trials in flight being its constant liars.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

from harness.config.plan import TrialSpec
from harness.record import TrialRecord
from harness.training.fusion.rule import group_key

AUTO_MEMBERS = 8  # measured on the 2-core machine: 8 stacked 784-128-10 MLPs train 2.75x faster than one (issue 17)


def limit(fuse: str | int) -> int:
    """Members per group at most: `auto` -> AUTO_MEMBERS, `off` -> 1, N -> N."""
    return {"auto": AUTO_MEMBERS, "off": 1}.get(fuse, fuse) if isinstance(fuse, str) else int(fuse)


@dataclass(frozen=True)
class Group:
    """Trials trained together as one fused model on one worker (at least two)."""

    members: tuple[TrialSpec, ...]

    @property
    def trial_id(self) -> str:
        return f"{self.members[0].trial_id} (+{len(self.members) - 1} fused)"


Unit = TrialSpec | Group


def members(unit: Unit) -> tuple[TrialSpec, ...]:
    return unit.members if isinstance(unit, Group) else (unit,)


def prunable(unit: Unit, active: bool) -> Unit:
    """`unit` with each member's `prunable` set as it is started."""
    specs = tuple(replace(s, prunable=active) for s in members(unit))
    return Group(specs) if isinstance(unit, Group) else specs[0]


class Packer:
    """The strategy's interface for the scheduler (ask, retry, tell), asking for units instead of trials."""

    def __init__(self, strategy, most: int):
        self.strategy, self.most = strategy, most
        self._held: deque[TrialSpec] = deque()
        self._ahead = most if strategy.chooses else None  # None: ask as far ahead as it takes

    def ask(self) -> Unit | None:
        if self.most <= 1:
            return self.strategy.ask()
        if not self._held and (first := self.strategy.ask()) is not None:
            self._held.append(first)
        if not self._held:
            return None
        key = group_key(self._held[0].config)
        if key is None:
            return self._held.popleft()
        group = [s for s in self._held if group_key(s.config) == key][:self.most]
        asked = 0
        while len(group) < self.most and (self._ahead is None or asked < self._ahead):
            spec = self.strategy.ask()
            if spec is None:
                break
            asked += 1
            self._held.append(spec)
            if group_key(spec.config) == key:
                group.append(spec)
        for spec in group:
            self._held.remove(spec)
        return Group(tuple(group)) if len(group) > 1 else group[0]

    def retry(self, spec: TrialSpec) -> None:
        self.strategy.retry(spec)

    def tell(self, spec: TrialSpec, record: TrialRecord) -> None:
        self.strategy.tell(spec, record)


def packing(todo: list[TrialSpec], most: int) -> tuple[int, int]:
    """(fused groups, trials alone) a planned sweep's `todo` makes: the packer asks a planning strategy
    as far ahead as it takes, so each key's trials fill groups of `most`."""
    groups: dict[str, int] = {}
    alone = 0
    for spec in todo:
        k = group_key(spec.config) if most > 1 else None
        if k is None:
            alone += 1
        else:
            groups[k] = groups.get(k, 0) + 1
    return sum(-(-n // most) for n in groups.values() if n > 1), alone + sum(n == 1 for n in groups.values())


def plan_line(todo: list[TrialSpec], most: int, chooses: bool) -> str | None:
    """The report's and --dry-run's line about fusion, or None when nothing will be fused."""
    if most <= 1 or not todo:
        return None
    if chooses:
        return f"fusion: up to {most} compatible trials per fused model, as the search asks for them"
    fused, alone = packing(todo, most)
    if not fused:
        return "fusion: none (no two trials can train as one model; see docs/fusion.md)"
    return (f"fusion: {len(todo) - alone} trials in {fused} fused {'group' if fused == 1 else 'groups'} "
            f"(at most {most} each)" + (f", {alone} trained alone" if alone else ""))


def report_line(records: list[TrialRecord]) -> str | None:
    """The end-of-sweep line: how many of the trials trained fused, in how many groups."""
    fused = [r for r in records if r.fused_size > 1]
    if not fused:
        return None
    groups = round(sum(1 / r.fused_size for r in fused))
    return f"{len(fused)} of {len(records)} trials trained fused, in {groups} {'group' if groups == 1 else 'groups'}"
