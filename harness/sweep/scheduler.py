"""One loop for every sweep: ask the strategy, start trials on an executor, collect, tell.

After each epoch of a prunable trial the pruner's verdict goes back to its
worker; every outcome is told to both the strategy and the pruner.

The loop is the only place that decides what runs next and what happens when
a worker is lost; executors (local processes, Ray tasks) only start trials,
report what happened to them and cancel. The policy for lost workers is one:
a trial whose worker (process, Ray task, node) dies is started again, from its
last checkpoint, and after MAX_ATTEMPTS losses in one sweep it is recorded as
failed, with its end time, and the sweep goes on. Every start of a trial,
lost ones included, counts in its record's `attempts`: a trial counts its own
start when it gets to, and the loop counts those that never did (a worker
killed before it, a Ray task whose record died with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from harness.config.plan import TrialSpec
from harness.files import file_lock
from harness.layout import TrialPaths, Workspace
from harness.record import FAILED, DamagedRecord, TrialRecord, utc_now
from harness.training.fusion import packing
from harness.search.pruners import Pruner
from harness.search.strategies import Strategy

MAX_ATTEMPTS = 3  # lost workers per trial and sweep before the trial is recorded as failed


@dataclass(frozen=True)
class Finished:
    """The trial ran to an end of its own: ok, diverged, failed or pruned (see its record)."""

    spec: TrialSpec
    record: TrialRecord


@dataclass(frozen=True)
class Lost:
    """The trial's worker died (or its task never came back): it did not record an outcome."""

    spec: TrialSpec
    why: str


@dataclass(frozen=True)
class Progress:
    """An epoch of the trial ended; `metrics` are its logs (loss, val_accuracy, ...)."""

    spec: TrialSpec
    epoch: int
    metrics: dict


Event = Finished | Lost | Progress


class Executor(Protocol):
    """Where trials run. `slots` trials at a time; the scheduler never starts more."""

    slots: int

    def start(self, unit: packing.Unit) -> None:
        """Start a trial, or a fused group of them (one slot), on a free worker (reporting each epoch of
        a trial when `spec.prunable`); each trial of a group has its own events."""

    def wait(self) -> list[Event]:
        """Block until something happened to a running trial; never returns an empty list."""

    def verdict(self, spec: TrialSpec, stop: bool) -> None:
        """Answer a Progress event of `spec`: stop it after this epoch, or let it go on."""

    def cancel(self) -> None:
        """Ctrl-C: stop the running trials (each recorded as interrupted) and free the workers."""

    def close(self) -> None:
        """The sweep is over: release the workers."""


@dataclass
class Callbacks:
    started: Callable[[TrialSpec], None] = lambda spec: None
    finished: Callable[[TrialSpec, TrialRecord], None] = lambda spec, record: None


def run(strategy: Strategy, pruner: Pruner, executor: Executor, workspace: Workspace,
        callbacks: Callbacks) -> None:
    """Run the strategy's trials to the end; KeyboardInterrupt propagates once the executor has cancelled."""
    running: dict[str, TrialSpec] = {}
    unit_of: dict[str, str] = {}  # a running trial's unit (itself, or its fused group: one slot)
    left: dict[str, int] = {}  # a running unit's trials still running
    lost: dict[str, int] = {}
    attempts: dict[str, int] = {}  # a trial's recorded attempts when it was last started
    told: set[str] = set()  # trials finished in this run

    def paths_of(spec: TrialSpec) -> TrialPaths:
        return workspace.trial(spec.config.name, spec.trial_id)

    try:
        while True:
            while len(left) < executor.slots and (unit := strategy.ask()) is not None:
                unit = packing.prunable(unit, pruner.active)
                _handed_once(unit, running, told)
                for spec in packing.members(unit):
                    attempts[spec.trial_id] = _attempts(spec, paths_of(spec))
                executor.start(unit)
                left[unit.trial_id] = len(packing.members(unit))
                for spec in packing.members(unit):
                    running[spec.trial_id], unit_of[spec.trial_id] = spec, unit.trial_id
                    if spec.trial_id not in lost:  # once per trial, however many attempts it takes
                        callbacks.started(spec)
            if not running:
                return
            for event in executor.wait():
                spec = event.spec
                if isinstance(event, Progress):
                    executor.verdict(spec, pruner.report(spec, event.epoch, event.metrics))
                    continue
                del running[spec.trial_id]
                unit = unit_of.pop(spec.trial_id)
                left[unit] -= 1
                if not left[unit]:
                    del left[unit]
                if isinstance(event, Lost):
                    lost[spec.trial_id] = lost.get(spec.trial_id, 0) + 1
                    if _attempts(spec, paths_of(spec)) <= attempts[spec.trial_id]:
                        _count_attempt(spec, paths_of(spec))  # lost before the trial could count it
                    if lost[spec.trial_id] < MAX_ATTEMPTS:
                        strategy.retry(spec)
                        continue
                    record = give_up(spec, paths_of(spec),
                                     f"its worker was lost in {lost[spec.trial_id]} attempts (last: {event.why})")
                else:
                    record = event.record
                told.add(spec.trial_id)
                strategy.tell(spec, record)
                pruner.tell(spec, record)
                callbacks.finished(spec, record)
    except KeyboardInterrupt:
        executor.cancel()
        raise
    finally:
        executor.close()


class StrategyError(RuntimeError):
    """A strategy broke its contract: each trial is handed out once (a retry once it is lost)."""


def _handed_once(unit, running: dict[str, TrialSpec], told: set[str]) -> None:
    """Refuse a trial handed out while it runs, after it finished, or twice in one fused group: trained
    twice at once it would wait on its own lock forever."""
    ids = [spec.trial_id for spec in packing.members(unit)]
    for tid in ids:
        if tid in running or tid in told or ids.count(tid) > 1:
            where = "is running" if tid in running else "has finished" if tid in told else "is twice in one group"
            raise StrategyError(f"the sweep's strategy handed out trial {tid} again while it {where}: "
                                "a strategy must hand out each trial once (see harness/search/strategies.py)")


def give_up(spec: TrialSpec, paths: TrialPaths, why: str) -> TrialRecord:
    """Record a trial whose workers kept dying as failed (--retry-failed trains it again from the start)."""
    with file_lock(paths.lock):
        record = _record(spec, paths)
        record.status, record.error = FAILED, why
        record.ended = utc_now()
        record.save(paths.run_dir)
    return record


def _record(spec: TrialSpec, paths: TrialPaths) -> TrialRecord:
    try:
        return TrialRecord.load(paths.run_dir) or TrialRecord.of(spec)
    except DamagedRecord:  # damaged while the sweep ran: a new record replaces it
        return TrialRecord.of(spec)


def _attempts(spec: TrialSpec, paths: TrialPaths) -> int:
    return _record(spec, paths).attempts


def _count_attempt(spec: TrialSpec, paths: TrialPaths) -> None:
    """Count an attempt the trial could not record itself; the next attempt starts from this record
    (a Ray task receives it with the trial's folder)."""
    with file_lock(paths.lock):
        record = _record(spec, paths)
        record.attempts += 1
        record.save(paths.run_dir)
