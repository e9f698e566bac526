"""Confirming the winner: a strategy that runs the sweep's own search, then races its top settings.

`Confirm` wraps the search's strategy. It hands out the search's trials;
when the search has nothing left and its trials are all told, it picks the
top `sweep.confirm.top` settings by the sweep's metric (validation, never
test) and hands out the race's rounds (harness/sweep/race.py): one more seed
of every surviving contender per round, `None` while a round is still
running, the next round once it is told. Confirmation trials are ordinary
trials of their settings (repeat r, seed train.seed + r, the Planner's ids),
so they have records, TensorBoard runs and results rows like any other; the
race is replayed from the records at every start, never stored.
"""

from __future__ import annotations

import json
from typing import Iterable

from harness.analysis import verdict
from harness.config.plan import Planner, TrialSpec
from harness.files import atomic_write_text
from harness.layout import CONFIRM, SweepPaths
from harness.record import OK, TrialRecord
from harness.sweep import race as race_mod
from harness.sweep.strategies import Strategy


def rules(planner: Planner) -> race_mod.Rules:
    sweep = planner.config.sweep
    c = sweep.confirm
    return race_mod.Rules(c.top, c.max_repeats, c.alpha, c.min_delta, sweep.metric.goal)


def value(record: TrialRecord | None, metric: str) -> float | None:
    """The metric of a finished trial; None when it finished without one (failed, diverged, pruned)."""
    if record is None or record.status != OK:
        return None
    v = getattr(record, metric, None)
    return None if v is None else float(v)


def contenders(planner: Planner, records: Iterable[TrialRecord]) -> list[str]:
    """The top settings by the mean of the search's own seeds (repeats < sweep.repeats), best first."""
    sweep = planner.config.sweep
    sign = 1.0 if sweep.metric.goal == "maximize" else -1.0
    values: dict[str, list[float]] = {}
    for r in records:
        if r.repeat < sweep.repeats and (v := value(r, sweep.metric.name)) is not None:
            values.setdefault(r.group, []).append(sign * v)
    means = {g: sum(v) / len(v) for g, v in values.items()}
    return sorted(means, key=lambda g: (-means[g], g))[:sweep.confirm.top]


def results(records: Iterable[TrialRecord], metric: str) -> dict[str, dict[int, float | None]]:
    """Setting -> repeat -> metric value, for the finished trials among `records`."""
    out: dict[str, dict[int, float | None]] = {}
    for r in records:
        if r.finished:
            out.setdefault(r.group, {})[r.repeat] = value(r, metric)
    return out


def replay(planner: Planner, records: list[TrialRecord]) -> race_mod.Race | None:
    """The race as the records say it stands; None until every trial of the search has finished."""
    search = [r for r in records if r.repeat < planner.config.sweep.repeats]
    if not search or not all(r.finished for r in search):
        return None
    return race_mod.replay(contenders(planner, search), results(records, planner.config.sweep.metric.name),
                           planner.config.sweep.repeats, rules(planner))


class Confirm(Strategy):
    """The search's strategy first, then the race: its trials round by round."""

    def __init__(self, search: Strategy, planner: Planner, records: Iterable[TrialRecord]):
        super().__init__()
        self.search, self.planner = search, planner
        self._records = {r.trial_id: r for r in records}  # every trial of the sweep known so far
        self._settings: dict[str, dict] = {r.group: r.settings for r in self._records.values()}
        self._running: dict[str, bool] = {}  # trial id -> whether it is the search's
        self.prunes = search.prunes

    def _next(self) -> TrialSpec | None:
        spec = self.search.ask()
        if spec is not None:
            self._settings.setdefault(spec.group, spec.settings)
            self._running[spec.trial_id] = True
            return spec
        if any(self._running.values()):
            return None  # the search's last trials are still running (and may lead it to more)
        race = replay(self.planner, list(self._records.values()))
        for group, rep in race.wanted() if race else ():
            spec = self.planner.spec(self._settings[group], rep)
            done = self._records.get(spec.trial_id)
            if spec.trial_id not in self._running and not (done and done.finished):
                self._running[spec.trial_id] = False
                return spec
        return None  # the round is running (or the race is over)

    def report(self, spec: TrialSpec, epoch: int, metrics: dict) -> bool:
        """Search trials may be pruned by the search; a race's seeds always run to the end."""
        return spec.repeat < self.planner.config.sweep.repeats and self.search.report(spec, epoch, metrics)

    def tell(self, spec: TrialSpec, record: TrialRecord) -> None:
        self._records[spec.trial_id] = record
        if self._running.pop(spec.trial_id, True):
            self.search.tell(spec, record)


def most(planner: Planner) -> int:
    """The race's trials at most: every contender to max_repeats seeds."""
    c = planner.config.sweep.confirm
    return c.top * (c.max_repeats - planner.config.sweep.repeats) if c else 0


def trials_left(plan) -> int:
    """The race's trials still to train at most (a harness.sweep.engine.SweepPlan's): none once it is over."""
    records = [r for r in plan.records.values() if r is not None]
    race = replay(plan.planner, records) if plan.config.sweep.confirm else None
    if race is None:
        return most(plan.planner)
    if race.ended:
        return 0
    done = results(records, plan.config.sweep.metric.name)
    return sum(rep not in done.get(s, {}) for s in race.survivors for rep in range(race.rules.max_repeats))


def on_disk(planner: Planner, paths: SweepPaths, specs: list[TrialSpec]) -> list[TrialSpec]:
    """The race's trials already started: the further repeats of `specs`' settings that have a folder."""
    c, repeats = planner.config.sweep.confirm, planner.config.sweep.repeats
    found = []
    for s in specs:
        if s.repeat == 0:
            found += [t for rep in range(repeats, c.max_repeats)
                      if paths.trial((t := planner.spec(s.settings, rep)).trial_id).run_dir.is_dir()]
    return found


def summary(plan) -> str:
    """The race's part of a SweepPlan's one-line summary ('' without sweep.confirm)."""
    c = plan.config.sweep.confirm
    if not c:
        return ""
    left = trials_left(plan)
    return (f"; then a race of the top {c.top} settings, one more seed each per round until one is significantly "
            f"best (alpha {c.alpha}{f', ties within {c.min_delta}' if c.min_delta else ''}) or each has "
            f"{c.max_repeats} seeds: " + (f"up to {left} more trials" if left else "the race is over"))


def write_verdict(planner: Planner, paths: SweepPaths, records: list[TrialRecord]) -> dict | None:
    """The race's answer as runs/E/confirm.json (atomic), or None while the search is unfinished."""
    race = replay(planner, records)
    if race is None:
        return None
    data = verdict.build(race, records, planner.config.sweep.metric.name)
    atomic_write_text(paths.run_dir / CONFIRM, json.dumps(data, indent=2) + "\n")
    return {**data, "path": str(paths.run_dir / CONFIRM)}
