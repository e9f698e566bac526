"""The scheduler's loop alone, with a scripted executor (no TensorFlow): each case runs in milliseconds.

The executor plays what real workers do: a trial that gets to start counts its
own attempt in its record (as run_trial does), a worker can die before or after
that, an epoch report waits for the pruner's verdict, and Ctrl-C arrives in
`wait`. The real executors are tested against the same policy in
tests/sweep/test_executors.py, with real trainings.
"""

from __future__ import annotations

import time
from collections import deque

import pytest

from harness.config.plan import Planner, TrialSpec
from harness.layout import Workspace
from harness.record import FAILED, OK, PRUNED, TrialRecord
from harness.sweep import scheduler
from harness.search.pruners import Pruner
from harness.sweep.scheduler import Finished, Lost, Progress
from harness.search.strategies import Grid, strategy_for
from tiny import TINY, merge


class ScriptedExecutor:
    """Plays each trial's script, attempt by attempt: "ok", "lost" (after it counted its start),
    "lost early" (before), "epochs N" (N epoch reports, then ok unless stopped), "interrupt" (Ctrl-C)."""

    def __init__(self, slots: int, workspace: Workspace, scripts: dict[str, list[str]]):
        self.slots, self.workspace, self.scripts = slots, workspace, {k: deque(v) for k, v in scripts.items()}
        self.running: dict[str, tuple[TrialSpec, deque]] = {}
        self.starts: list[str] = []
        self.most_at_once = 0
        self.verdicts: list[tuple[str, bool]] = []
        self.cancelled = self.closed = False

    def _paths(self, spec):
        return self.workspace.trial(spec.config.name, spec.trial_id)

    def start(self, spec: TrialSpec) -> None:
        assert len(self.running) < self.slots, "the scheduler started more trials than there are slots"
        step = self.scripts[spec.trial_id].popleft() if self.scripts.get(spec.trial_id) else "ok"
        if step != "lost early":  # the trial counts its own start, as run_trial does
            record = TrialRecord.load(self._paths(spec).run_dir) or TrialRecord.of(spec)
            record.attempts += 1
            record.save(self._paths(spec).run_dir)
        events = deque()
        if step.startswith("epochs"):
            events.extend(("epoch", e) for e in range(1, int(step.split()[1]) + 1))
            events.append(("end", OK))
        else:
            events.append(("end", step))
        self.running[spec.trial_id] = (spec, events)
        self.starts.append(spec.trial_id)
        self.most_at_once = max(self.most_at_once, len(self.running))

    def wait(self):
        trial_id = next(iter(self.running))
        spec, events = self.running[trial_id]
        kind, what = events.popleft()
        if kind == "epoch":
            self._waiting = (trial_id, what)
            return [Progress(spec, what, {"val_accuracy": 0.5 + 0.01 * what})]
        del self.running[trial_id]
        if what == "interrupt":
            raise KeyboardInterrupt
        if what in ("lost", "lost early"):
            return [Lost(spec, "its worker process died (exit code -9)")]
        record = TrialRecord.load(self._paths(spec).run_dir)
        record.status = what
        record.save(self._paths(spec).run_dir)
        return [Finished(spec, record)]

    def verdict(self, spec, stop):
        self.verdicts.append((spec.trial_id, stop))
        if stop:  # the trial ends after this epoch, recorded as pruned
            _, events = self.running[spec.trial_id]
            events.clear()
            events.append(("end", PRUNED))

    def cancel(self):
        self.cancelled = True

    def close(self):
        self.closed = True


class StopAfter(Pruner):
    """Stops every trial after `epochs` epochs."""

    active = True

    def __init__(self, epochs: int):
        self.epochs, self.told = epochs, []

    def report(self, spec, epoch, metrics):
        assert spec.prunable
        return epoch >= self.epochs

    def tell(self, spec, record):
        self.told.append((spec.trial_id, record.status))


def _sweep(tmp_path, n: int = 4):
    workspace = Workspace(tmp_path / "runs", tmp_path / "ev")
    planner = Planner(merge(TINY, {"name": "s", "sweep": {"parameters": {"train.lr": [0.1 * (i + 1) for i in range(n)]}}}))
    strategy = strategy_for(planner, workspace.sweep("s"))
    specs = strategy.planned()
    strategy.start(specs, [])
    return workspace, strategy, [s.trial_id for s in specs]


def _run(strategy, executor, workspace, pruner=None):
    done: dict[str, TrialRecord] = {}
    started: list[str] = []
    t0 = time.perf_counter()
    scheduler.run(strategy, pruner or Pruner(), executor, workspace,
                  scheduler.Callbacks(started=lambda s: started.append(s.trial_id),
                                      finished=lambda s, r: done.__setitem__(s.trial_id, r)))
    assert time.perf_counter() - t0 < 1.0
    return done, started


@pytest.mark.parametrize("slots", [1, 2, 3])
def test_every_trial_runs_once_and_never_more_than_the_slots_at_once(tmp_path, slots):
    workspace, strategy, ids = _sweep(tmp_path, 5)
    executor = ScriptedExecutor(slots, workspace, {})
    done, started = _run(strategy, executor, workspace)
    assert sorted(done) == sorted(ids) and started == ids and executor.starts == ids
    assert executor.most_at_once == min(slots, len(ids)) and executor.closed
    assert all(r.status == OK and r.attempts == 1 for r in done.values())


def test_a_lost_trial_is_started_again_first_and_every_attempt_is_counted(tmp_path):
    workspace, strategy, ids = _sweep(tmp_path, 3)
    executor = ScriptedExecutor(1, workspace, {ids[0]: ["lost", "lost early", "ok"]})
    done, started = _run(strategy, executor, workspace)
    assert executor.starts == [ids[0], ids[0], ids[0], ids[1], ids[2]]  # retried before any new trial
    assert started == ids  # reported started once, however many attempts it took
    assert done[ids[0]].status == OK and done[ids[0]].attempts == 3  # the early loss counted by the loop


def test_after_three_losses_a_trial_is_recorded_failed_and_the_sweep_goes_on(tmp_path):
    workspace, strategy, ids = _sweep(tmp_path, 2)
    executor = ScriptedExecutor(2, workspace, {ids[0]: ["lost early", "lost", "lost"]})
    done, _ = _run(strategy, executor, workspace)
    failed = TrialRecord.load(workspace.trial("s", ids[0]).run_dir)
    assert failed.status == FAILED and failed.attempts == scheduler.MAX_ATTEMPTS and failed.ended
    assert "lost in 3 attempts" in failed.error and "exit code -9" in failed.error
    assert done[ids[0]].status == FAILED and done[ids[1]].status == OK
    assert executor.starts.count(ids[0]) == scheduler.MAX_ATTEMPTS


def test_pruning_verdicts_go_back_to_the_trial_and_the_pruner_is_told_the_outcome(tmp_path):
    workspace, strategy, ids = _sweep(tmp_path, 3)
    executor = ScriptedExecutor(2, workspace, {tid: ["epochs 4"] for tid in ids})
    pruner = StopAfter(2)
    done, _ = _run(strategy, executor, workspace, pruner)
    assert all(r.status == PRUNED for r in done.values())
    assert [v for v in executor.verdicts if v[0] == ids[0]] == [(ids[0], False), (ids[0], True)]
    assert sorted(pruner.told) == sorted((tid, PRUNED) for tid in ids)


def test_without_an_active_pruner_trials_are_not_prunable(tmp_path):
    workspace, strategy, ids = _sweep(tmp_path, 2)
    seen = []

    class Recording(ScriptedExecutor):
        def start(self, spec):
            seen.append(spec.prunable)
            super().start(spec)
    _run(strategy, Recording(1, workspace, {}), workspace)
    assert seen == [False, False]


def test_ctrl_c_cancels_the_running_trials_and_propagates(tmp_path):
    workspace, strategy, ids = _sweep(tmp_path, 4)
    executor = ScriptedExecutor(2, workspace, {ids[1]: ["interrupt"]})
    with pytest.raises(KeyboardInterrupt):
        _run(strategy, executor, workspace)
    assert executor.cancelled and executor.closed
    assert ids[3] not in executor.starts  # nothing new started after Ctrl-C


class Rounds(Grid):
    """Rounds of two trials: the next round starts only once the last is told (as a race works)."""

    def start(self, todo, known):
        self._rounds, self._queue, self._out = deque([todo[:2], todo[2:]]), deque(), 0

    def _next(self):
        if not self._queue and not self._out and self._rounds:
            self._queue.extend(self._rounds.popleft())
        if not self._queue:
            return None  # not now: asked again after the next outcome
        self._out += 1
        return self._queue.popleft()

    def tell(self, spec, record):
        self._out -= 1


def test_a_strategy_that_waits_is_asked_again_after_each_outcome(tmp_path):
    workspace, strategy, ids = _sweep(tmp_path, 4)
    rounds = Rounds(strategy.planner, strategy.paths)
    rounds.start(strategy.planned(), [])
    executor = ScriptedExecutor(4, workspace, {})
    done, _ = _run(rounds, executor, workspace)
    assert sorted(done) == sorted(ids) and executor.starts == ids and executor.most_at_once == 2


class Twice(Grid):
    """Breaks the contract: hands out its first trial a second time, right after or once it finished."""

    def __init__(self, *args, after: bool):
        super().__init__(*args)
        self.after, self.again = after, None

    def _next(self):
        spec = super()._next()
        if spec is None and self.again is not None and self.after:
            spec, self.again = self.again, None
        elif spec is not None and self.again is None and not hasattr(self, "_done"):
            self._done = True
            self.again = spec
            if not self.after:
                self._queue.appendleft(spec)  # at once: into the same fused group, or while it runs
        return spec


@pytest.mark.parametrize("after, fuse, where", [(False, 8, "is twice in one group"), (False, 1, "is running"),
                                                (True, 1, "has finished")])
def test_a_trial_handed_out_twice_is_refused_by_name_never_trained_twice(tmp_path, after, fuse, where):
    # issue 29.3: with fusion, the trial was packed twice into one group and its worker waited on its own lock
    from harness.training.fusion.packing import Packer

    workspace, strategy, ids = _sweep(tmp_path, 3)
    twice = Twice(strategy.planner, strategy.paths, after=after)
    twice.start(twice.planned(), [])
    executor = ScriptedExecutor(2, workspace, {})
    with pytest.raises(scheduler.StrategyError, match=f"handed out trial {ids[0]} again while it {where}"):
        scheduler.run(Packer(twice, fuse), Pruner(), executor, workspace, scheduler.Callbacks())
    assert executor.closed and executor.starts.count(ids[0]) <= 1
