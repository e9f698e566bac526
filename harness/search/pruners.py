"""Pruners: which running trials to stop after an epoch, apart from what a strategy chooses to train.

Any strategy composes with any pruner (`sweep.pruner.kind`), as Optuna keeps
samplers and pruners apart and Ray Tune keeps searchers and trial schedulers
apart. The scheduler marks every trial it starts as prunable when the pruner
is active (`TrialSpec.prunable`, so the worker reports each epoch), asks the
pruner after each epoch (`report`, True: stop it there, recorded `pruned`) and
tells it every outcome (`tell`).

- `none`: never stops a trial.
- `asha` and `median`: Optuna's SuccessiveHalvingPruner and MedianPruner
  (better tested than ours would be) over a study of their own, one Optuna
  trial per trial of ours, judged on validation accuracy. The study is rebuilt
  from the trial records and histories at every start, so after `kill -9` or
  Ctrl-C the finished trials compete exactly as they did (ASHA's rungs
  included).
"""

from __future__ import annotations

import csv
from pathlib import Path

from harness.config.plan import TrialSpec
from harness.config.space import SweepConfig
from harness.layout import SweepPaths
from harness.record import OK, PRUNED, TrialRecord

EPOCH_METRIC = "val_accuracy"  # what pruners compare, epoch by epoch (the sweep's metric is its best)


def epoch_values(history_csv: Path) -> dict[int, float]:
    """A trial's validation accuracy by epoch, from its history.csv ({} when there is none)."""
    try:
        with open(history_csv) as f:
            return {int(r["epoch"]): float(r[EPOCH_METRIC]) for r in csv.DictReader(f) if r.get(EPOCH_METRIC)}
    except (OSError, ValueError, KeyError):
        return {}


def optuna_state(record: TrialRecord, metric: str):
    """A finished trial as Optuna sees it: complete with the metric, pruned, or failed (no metric)."""
    import optuna

    value = getattr(record, metric, None)
    if record.status == OK and value is not None:
        return optuna.trial.TrialState.COMPLETE, float(value)
    return (optuna.trial.TrialState.PRUNED if record.status == PRUNED else optuna.trial.TrialState.FAIL), None


class Pruner:
    """`none`: lets every trial run to its end."""

    active = False  # True: trials report every epoch and wait for `report`'s verdict

    def report(self, spec: TrialSpec, epoch: int, metrics: dict) -> bool:
        """An epoch of `spec` ended with `metrics`; True stops the trial there (it is then pruned)."""
        return False

    def tell(self, spec: TrialSpec, record: TrialRecord) -> None:
        """`spec` finished as `record` says."""


class OptunaPruner(Pruner):
    """asha or median, over a study rebuilt from the records; see the module docstring."""

    active = True

    def __init__(self, sweep: SweepConfig, paths: SweepPaths, known: list[tuple[TrialSpec, TrialRecord]]):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna, self._sweep, self._paths = optuna, sweep, paths
        self._study = optuna.create_study(direction=sweep.metric.goal, pruner=self._make(sweep))
        self._live: dict[str, optuna.Trial] = {}
        for spec, record in sorted(known, key=lambda k: k[1].started or ""):
            if record.finished:
                values = epoch_values(paths.trial(spec.trial_id).history)
                state, value = optuna_state(record, sweep.metric.name)
                self._study.add_trial(optuna.trial.create_trial(
                    state=state, value=value, intermediate_values=values, system_attrs=self._rungs_passed(values)))

    def _make(self, sweep: SweepConfig):
        p, pruners = sweep.pruner, self._optuna.pruners
        if p.kind == "asha":  # asynchronous successive halving
            return pruners.SuccessiveHalvingPruner(min_resource=p.min_epochs, reduction_factor=p.reduction_factor)
        # Optuna judges steps >= n_warmup_steps; our epochs count from 1.
        return pruners.MedianPruner(n_startup_trials=p.startup_trials, n_warmup_steps=p.warmup_epochs + 1)

    def _rungs_passed(self, values: dict[int, float]) -> dict[str, float]:
        """What Optuna's successive-halving pruner notes on a trial as it reaches each rung (its value at
        the rung's epoch, `completed_rung_N`), so that a trial rebuilt from its history competes as it did."""
        if self._sweep.pruner.kind != "asha":
            return {}
        p, rungs, rung = self._sweep.pruner, {}, 0
        while (epoch := p.min_epochs * p.reduction_factor ** rung) in values:
            rungs[f"completed_rung_{rung}"] = values[epoch]
            rung += 1
        return rungs

    def report(self, spec: TrialSpec, epoch: int, metrics: dict) -> bool:
        value = metrics.get(EPOCH_METRIC)
        if value is None:
            return False
        trial = self._live.get(spec.trial_id) or self._live.setdefault(spec.trial_id, self._study.ask())
        trial.report(float(value), epoch)
        return trial.should_prune()

    def tell(self, spec: TrialSpec, record: TrialRecord) -> None:
        trial = self._live.pop(spec.trial_id, None)
        if trial is not None:
            state, value = optuna_state(record, self._sweep.metric.name)
            self._study.tell(trial, value, state=state)


PRUNERS = {"none": Pruner, "asha": OptunaPruner, "median": OptunaPruner}  # sweep.pruner.kind -> its class


def pruner_for(sweep: SweepConfig, paths: SweepPaths, known: list[tuple[TrialSpec, TrialRecord]]) -> Pruner:
    """The sweep's pruner, told the trials already on disk (`known`, with their records)."""
    cls = PRUNERS[sweep.pruner.kind]
    return cls() if cls is Pruner else cls(sweep, paths, known)
