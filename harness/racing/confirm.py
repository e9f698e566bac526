"""Confirming the winner: a strategy that runs the sweep's own search, then races its top settings.

`Confirm` wraps the search's strategy. It hands out the search's trials;
when the search has nothing left and its trials are all told, it picks the
top `sweep.confirm.top` settings by the sweep's metric (validation, never
test) and hands out the race's rounds (harness/racing/rounds.py): one more seed
of every surviving contender per round, `None` while a round is still
running, the next round once it is told. Confirmation trials are ordinary
trials of their settings (repeat r, seed train.seed + r, the Planner's ids),
so they have records, TensorBoard runs and results rows like any other; the
race is replayed from the records at every start, never stored.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Iterable

from harness.racing import verdict
from harness.config.plan import Planner, TrialSpec, trial_id
from harness.files import atomic_write_text
from harness.record import OK, TrialRecord
from harness.racing import rounds
from harness.search.pruners import Pruner
from harness.search.strategies import Strategy, SweepPlan


def rules(planner: Planner) -> rounds.Rules:
    sweep = planner.config.sweep
    c = sweep.confirm
    return rounds.Rules(c.top, c.max_repeats, c.alpha, rounds.margin(sweep.metric.name, c.min_delta), sweep.metric.goal)


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


def replay(planner: Planner, records: list[TrialRecord]) -> rounds.Race:
    """The race as `records` say it stands, the search's trials among them all finished."""
    search = [r for r in records if r.repeat < planner.config.sweep.repeats]
    return rounds.replay(contenders(planner, search), results(records, planner.config.sweep.metric.name),
                           planner.config.sweep.repeats, rules(planner))


def most(planner: Planner) -> int:
    """The race's trials at most: every contender to max_repeats seeds."""
    c = planner.config.sweep.confirm
    return c.top * (c.max_repeats - planner.config.sweep.repeats) if c else 0


def wrap(strategy: Strategy) -> Strategy:
    """`strategy`, followed by a race when its sweep has `sweep.confirm`."""
    return Confirm(strategy) if strategy.sweep.confirm else strategy


class Confirm(Strategy):
    """The search's strategy first, then the race: its trials round by round. Every question about
    the search's own trials is the search's; the race adds the further repeats of its settings."""

    def __init__(self, search: Strategy):
        super().__init__(search.planner, search.paths)
        self.search = search
        self._search_over = False  # the search said it has nothing more (it may end short of its size: tpe on a small space)
        self.method, self.chooses, self.takes_settings = search.method, search.chooses, search.takes_settings
        self._found: dict[str, TrialRecord | None] = {}

    def _is_search(self, spec: TrialSpec) -> bool:
        return spec.repeat < self.sweep.repeats

    def _split(self, specs: list[TrialSpec]) -> list[TrialSpec]:
        return [s for s in specs if self._is_search(s)]

    def race(self, records: Iterable[TrialRecord | None]) -> rounds.Race | None:
        """The race as `records` say it stands; None while the search has trials to finish."""
        records = [r for r in records if r is not None]
        search = [r for r in records if r.repeat < self.sweep.repeats and r.finished]
        if not search or (len(search) < self.search.size(self.planned()) and not self._search_over):
            return None
        return replay(self.planner, records)

    def trials_left(self, records: Iterable[TrialRecord | None]) -> int:
        """The race's trials still to train at most, given the records on disk: none once it is over."""
        records = [r for r in records if r is not None]
        race = self.race(records)
        if race is None:
            return most(self.planner)
        done = results(records, self.sweep.metric.name)
        return 0 if race.ended else sum(rep not in done.get(s, {}) for s in race.survivors
                                        for rep in range(self.sweep.confirm.max_repeats))

    def _search_view(self, plan: SweepPlan) -> SweepPlan:
        return dataclasses.replace(plan, specs=self._split(plan.specs), todo=self._split(plan.todo))

    # --- the plan --------------------------------------------------------------------------

    def planned(self) -> list[TrialSpec]:
        return self.search.planned()

    def folders(self) -> list[str]:
        """The search's folders and those of its planned settings' further repeats that exist."""
        run_dir = self.paths.run_dir
        on_disk = {p.name for p in run_dir.iterdir() if p.is_dir()} if run_dir.is_dir() else set()
        race = [tid for _, _, tid in self._further(self.planned()) if tid in on_disk]
        return list(dict.fromkeys(self.search.folders() + race))

    def _further(self, specs: list[TrialSpec]) -> Iterable[tuple[TrialSpec, int, str]]:
        """The race's possible trials of `specs`' settings (repeats sweep.repeats .. max_repeats - 1), by id
        alone: a config is built only for those that exist, so planning stays linear in what will run."""
        return ((s, rep, trial_id(s.group, rep, self.sweep.repeats)) for s in specs if s.repeat == 0
                for rep in range(self.sweep.repeats, self.sweep.confirm.max_repeats))

    def trials(self, found: dict[str, TrialRecord | None]) -> list[TrialSpec]:
        """The search's trials so far, then the race's: the further repeats of their settings on disk."""
        self._found = found
        search = self.search.trials(found)
        return search + [self.planner.spec(s.settings, rep) for s, rep, tid in self._further(search) if tid in found]

    def size(self, specs: list[TrialSpec]) -> int:
        return self.search.size(self._split(specs)) + most(self.planner)

    def to_run(self, specs: list[TrialSpec], todo: list[TrialSpec]) -> int:
        return self.search.to_run(self._split(specs), self._split(todo)) + self.trials_left(self._found.values())

    def summary(self, plan: SweepPlan) -> str:
        c, left, r = self.sweep.confirm, self.trials_left(plan.records.values()), rules(self.planner)
        looks = r.looks(self.sweep.repeats)
        tie = f", ties within {r.min_delta:g}" if r.min_delta else ""
        return (self.search.summary(self._search_view(plan))
                + f"; then a race of the top {c.top} settings, looking at {', '.join(map(str, looks))} seeds each, "
                f"until one is best (alpha {c.alpha}{tie}) or the survivors are tied: "
                + (f"up to {left} more trials" if left else "the race is over"))

    def dry_run_lines(self, plan: SweepPlan) -> list[str]:
        left = self.trials_left(plan.records.values())
        return self.search.dry_run_lines(self._search_view(plan)) + [
            f"  then at most {left} confirmation trials (the race ends sooner when one setting is significantly "
            "best or the survivors are tied)" if left else f"  the race is over: its verdict is in {self.paths.confirm}"]

    def order(self, records: list[TrialRecord]) -> list[TrialRecord]:
        race = [r for r in records if r.repeat >= self.sweep.repeats]
        return self.search.order([r for r in records if r.repeat < self.sweep.repeats]) + sorted(
            race, key=lambda r: (r.repeat, r.group))

    # --- the run ---------------------------------------------------------------------------

    def start(self, todo: list[TrialSpec], known: list[tuple[TrialSpec, TrialRecord]]) -> None:
        """The search resumes its own trials; the race's interrupted seeds are handed out again by the race."""
        self.search.start(self._split(todo), [(s, r) for s, r in known if self._is_search(s)])
        self._records = {s.trial_id: r for s, r in known}  # every trial of the sweep known so far
        self._settings = {s.group: s.settings for s, _ in known} | {s.group: s.settings for s in todo}
        self._running: dict[str, bool] = {}  # trial id -> whether it is the search's

    def _next(self) -> TrialSpec | None:
        spec = self.search.ask()
        if spec is not None:
            self._settings.setdefault(spec.group, spec.settings)
            self._running[spec.trial_id] = True
            return spec
        if any(self._running.values()):
            return None  # the search's last trials are still running (and may lead it to more)
        self._search_over = True
        for group, rep in replay(self.planner, list(self._records.values())).wanted():
            spec = self.planner.spec(self._settings[group], rep)
            done = self._records.get(spec.trial_id)
            if spec.trial_id not in self._running and not (done and done.finished):
                self._running[spec.trial_id] = False
                return spec
        return None  # the round is running (or the race is over)

    def retry(self, spec: TrialSpec) -> None:
        (self.search if self._is_search(spec) else super()).retry(spec)

    def tell(self, spec: TrialSpec, record: TrialRecord) -> None:
        self._records[spec.trial_id] = record
        if self._running.pop(spec.trial_id, True):
            self.search.tell(spec, record)


def search_pruner(pruner: Pruner, sweep) -> Pruner:
    """The sweep's pruner, kept off the race's seeds when it has `sweep.confirm`."""
    return SearchPruner(pruner, sweep.repeats) if sweep.confirm and pruner.active else pruner


class SearchPruner(Pruner):
    """The sweep's pruner for the search's trials; a race's seeds always run to the end (a pruned seed
    would be a seed without a value)."""

    def __init__(self, pruner: Pruner, repeats: int):
        self.pruner, self.repeats, self.active = pruner, repeats, pruner.active

    def report(self, spec: TrialSpec, epoch: int, metrics: dict) -> bool:
        return spec.repeat < self.repeats and self.pruner.report(spec, epoch, metrics)

    def tell(self, spec: TrialSpec, record: TrialRecord) -> None:
        self.pruner.tell(spec, record)


def write_verdict(strategy: Confirm, records: list[TrialRecord]) -> dict | None:
    """The race's answer as runs/E/confirm.json (atomic), or None while the search is unfinished."""
    race = strategy.race(records)
    if race is None:
        return None
    data = verdict.build(race, records, strategy.sweep.metric.name)
    atomic_write_text(strategy.paths.confirm, json.dumps(data, indent=2) + "\n")
    return data
