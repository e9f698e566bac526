"""Adaptive search: Optuna's TPE sampler and pruners, used as a library behind our ask/tell seam.

One Optuna trial per trial of ours (a setting x a repeat). The study lives in
memory and is rebuilt from the trial records and histories every time the
sweep starts, so the records stay the single source of truth: after `kill -9`
or Ctrl-C the same command continues the same search, with every finished
trial known to the sampler and the pruner, interrupted trials resumed first,
and nothing trained twice.

- `tpe` (method): each new setting is sampled by TPE from the results so far,
  until `sweep.trials` settings have been tried. With several workers,
  trials still running count as "constant liars" (Optuna's answer for
  parallel TPE). The sampler is re-seeded from `sweep.seed` and the number
  of trials known, so a serial sweep asks the same settings whether or not
  it was interrupted; with several workers the order trials finish in
  changes what is asked next.
- pruners (`sweep.pruner.kind`: asha, median), with any method: after each
  epoch a trial's validation accuracy is reported; when the pruner says so,
  the trial stops there and is recorded as `pruned`.

Only this module (and the importance table in analysis) imports Optuna, and
only for sweeps that ask for it.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections import deque
from pathlib import Path
from typing import Any

import optuna

from harness.config.plan import Planner, TrialSpec
from harness.config.space import Parameter, SweepConfig
from harness.layout import SweepPaths
from harness.record import OK, PRUNED, TrialRecord
from harness.sweep.strategies import Strategy

optuna.logging.set_verbosity(optuna.logging.WARNING)
EPOCH_METRIC = "val_accuracy"  # what pruners compare, epoch by epoch (the sweep's metric is its best)
MAX_DUPLICATE_ASKS = 50  # tpe: re-asks when it proposes a setting already tried, before giving up


def distribution(param: Parameter) -> optuna.distributions.BaseDistribution:
    """A swept parameter as an Optuna distribution: values are categorical, bounds numeric."""
    if param.values is not None:
        return optuna.distributions.CategoricalDistribution([_choice(v) for v in param.values])
    if param.distribution == "int_uniform":
        return optuna.distributions.IntDistribution(math.ceil(param.min), math.floor(param.max))
    return optuna.distributions.FloatDistribution(param.min, param.max, log=param.distribution == "log_uniform")


def _choice(value):
    """Optuna's categorical choices must be scalars: a list value (hidden: [512, 256]) travels as JSON."""
    return json.dumps(list(value)) if isinstance(value, (list, tuple)) else value


def inside(param: Parameter, value) -> bool:
    """Whether `value` (a trial's setting) is one the parameter can produce: after an edited space, not always."""
    if param.values is not None:
        return any(_choice(v) == _choice(value) for v in param.values)
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and param.min <= value <= param.max
            and (param.distribution != "int_uniform" or value == int(value)))


def _setting(param: Parameter, raw) -> Any:
    if param.values is not None:
        return next(v for v in param.values if _choice(v) == raw)
    if param.distribution == "int_uniform":
        return int(raw)
    return param.rounded(raw)  # as random sampling rounds: readable trial ids


def make_pruner(sweep: SweepConfig) -> optuna.pruners.BasePruner:
    p = sweep.pruner
    if p.kind == "asha":  # asynchronous successive halving
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=p.min_epochs, reduction_factor=p.reduction_factor)
    if p.kind == "median":
        # Optuna judges steps >= n_warmup_steps; our epochs count from 1.
        return optuna.pruners.MedianPruner(n_startup_trials=p.startup_trials, n_warmup_steps=p.warmup_epochs + 1)
    return optuna.pruners.NopPruner()


def epoch_values(history_csv: Path) -> dict[int, float]:
    """A trial's validation accuracy by epoch, from its history.csv ({} when there is none)."""
    try:
        with open(history_csv) as f:
            return {int(r["epoch"]): float(r[EPOCH_METRIC]) for r in csv.DictReader(f) if r.get(EPOCH_METRIC)}
    except (OSError, ValueError, KeyError):
        return {}


class OptunaSearch(Strategy):
    """TPE sampling and/or pruning, told every outcome; see the module docstring."""

    def __init__(self, planner: Planner, paths: SweepPaths, planned: list[TrialSpec],
                 known: list[tuple[TrialSpec, TrialRecord]]):
        """`planned`: trials to run in order (grid, random, list; for tpe, interrupted ones to resume);
        `known`: trials with a record on disk, finished ones first told to the study."""
        super().__init__()
        self.sweep = planner.config.sweep
        self.prunes = self.sweep.pruner.kind != "none"
        self._planner, self._paths = planner, paths
        self._distributions = {p.path: distribution(p) for p in self.sweep.parameters}
        self._study = optuna.create_study(direction=self.sweep.metric.goal, pruner=make_pruner(self.sweep),
                                          sampler=self._sampler(0))
        self._live: dict[str, optuna.Trial] = {}
        self._queue = deque(planned)
        self._groups = {spec.group for spec, _ in known} | {s.group for s in planned}
        outside = [spec.trial_id for spec, _ in known if not self._in_space(spec)]
        if outside:  # an edited space: their results stay in results.csv, but they are no evidence for it
            print(f"warning: {len(outside)} trial(s) were tried outside the edited search space (e.g. {outside[0]}); "
                  "kept as results, not told to the sampler or pruner", file=sys.stderr, flush=True)
        for spec, record in sorted(known, key=lambda k: k[1].started or ""):
            if record.finished and self._in_space(spec):
                self._study.add_trial(self._frozen(spec, record))

    def _in_space(self, spec: TrialSpec) -> bool:
        return all(inside(p, spec.settings[p.path]) for p in self.sweep.parameters if p.path in spec.settings)

    def _sampler(self, n_known: int) -> optuna.samplers.BaseSampler:
        # Re-seeded per ask: the same history gives the same next setting, interrupted or not.
        # NumPy takes seeds below 2**32 (the same seeds as before for every sweep.seed under 4,294).
        return optuna.samplers.TPESampler(seed=(self.sweep.seed * 1_000_003 + n_known) % 2**32, n_startup_trials=5)

    def _params(self, settings: dict) -> dict:
        return {k: _choice(v) for k, v in settings.items() if k in self._distributions}

    def _frozen(self, spec: TrialSpec, record: TrialRecord) -> optuna.trial.FrozenTrial:
        state, value = self._outcome(record)
        params = self._params(spec.settings)
        values = epoch_values(self._paths.trial(spec.trial_id).history)
        return optuna.trial.create_trial(
            state=state, value=value, params=params, distributions={k: self._distributions[k] for k in params},
            intermediate_values=values, system_attrs=self._rungs_passed(values))

    def _rungs_passed(self, values: dict[int, float]) -> dict[str, float]:
        """What Optuna's successive-halving pruner notes on a trial as it reaches each rung (its value at
        the rung's epoch, `completed_rung_N`), so that a trial rebuilt from its history competes as it did."""
        if self.sweep.pruner.kind != "asha":
            return {}
        p, rungs, rung = self.sweep.pruner, {}, 0
        while (epoch := p.min_epochs * p.reduction_factor ** rung) in values:
            rungs[f"completed_rung_{rung}"] = values[epoch]
            rung += 1
        return rungs

    # --- the seam -------------------------------------------------------------------------

    def _next(self) -> TrialSpec | None:
        if not self._queue and self.sweep.method == "tpe":
            self._queue.extend(self._sample())
        if not self._queue:
            return None
        spec = self._queue.popleft()
        if spec.trial_id not in self._live and self._in_space(spec):  # (a tpe setting's first trial: TPE asked it)
            params = self._params(spec.settings)
            if params:
                self._study.enqueue_trial(params, skip_if_exists=False)
            self._live[spec.trial_id] = self._study.ask({k: self._distributions[k] for k in params})
        return spec

    def _sample(self) -> list[TrialSpec]:
        """The next setting TPE proposes, as its trials (one per repeat); [] when the budget is spent."""
        if len(self._groups) >= self.sweep.trials:
            return []
        for attempt in range(MAX_DUPLICATE_ASKS):
            self._study.sampler = self._sampler(len(self._groups) + 1_000 * attempt)
            trial = self._study.ask(self._distributions)
            settings = {p.path: _setting(p, trial.params[p.path]) for p in self.sweep.parameters}
            specs = self._planner.specs(settings)
            if specs[0].group not in self._groups:
                self._groups.add(specs[0].group)
                self._live[specs[0].trial_id] = trial  # the other repeats get trials of their own
                return specs
            self._study.tell(trial, state=optuna.trial.TrialState.FAIL)  # tried already: ask again
        return []  # the space is exhausted (few categorical values): stop early

    def report(self, spec: TrialSpec, epoch: int, metrics: dict) -> bool:
        trial = self._live.get(spec.trial_id)
        value = metrics.get(EPOCH_METRIC)
        if trial is None or value is None or not self.prunes:
            return False
        trial.report(float(value), epoch)
        return trial.should_prune()

    def tell(self, spec: TrialSpec, record: TrialRecord) -> None:
        trial = self._live.pop(spec.trial_id, None)
        if trial is not None:
            state, value = self._outcome(record)
            self._study.tell(trial, value, state=state)

    def _outcome(self, record: TrialRecord) -> tuple[optuna.trial.TrialState, float | None]:
        """A finished trial as Optuna sees it: complete with the metric, pruned, or failed (no metric)."""
        value = getattr(record, self.sweep.metric.name, None)
        if record.status == OK and value is not None:
            return optuna.trial.TrialState.COMPLETE, float(value)
        return (optuna.trial.TrialState.PRUNED if record.status == PRUNED else optuna.trial.TrialState.FAIL), None
