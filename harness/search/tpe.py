"""The tpe method: Optuna's TPE sampler, used as a library behind our ask/tell seam.

One Optuna trial per trial of ours (a setting x a repeat). The study lives in
memory and is rebuilt from the trial records and histories every time the
sweep starts, so the records stay the single source of truth: after `kill -9`
or Ctrl-C the same command continues the same search, with every finished
trial known to the sampler, interrupted trials resumed first, and nothing
trained twice. A tpe sweep's trials are those on disk (it plans none): each
new setting is sampled by TPE from the results so far, until `sweep.trials`
settings have been tried. With several workers, trials still running count as
"constant liars" (Optuna's answer for parallel TPE). The sampler is re-seeded
from `sweep.seed` and the number of trials known, so a serial sweep asks the
same settings whether or not it was interrupted; with several workers the
order trials finish in changes what is asked next.

Pruning (asha, median) is a pruner's business, with any method
(harness/search/pruners.py). Only this module, the pruners and the importance
table in analysis import Optuna, and only for sweeps that ask for it.
"""

from __future__ import annotations

import json
import math
import sys
from collections import deque
from typing import Any, Iterable

import optuna

from harness.config.plan import TrialSpec
from harness.config.space import Parameter, SweepConfig, corners
from harness.record import TrialRecord
from harness.search.pruners import epoch_values, optuna_state
from harness.config.methods import register
from harness.search.strategies import Strategy, SweepPlan, pruner_text

optuna.logging.set_verbosity(optuna.logging.WARNING)
MAX_DUPLICATE_ASKS = 50  # re-asks when TPE proposes a setting already tried, before giving up


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


@register("tpe")
class TpeSearch(Strategy):
    """TPE sampling, told every outcome; see the module docstring."""

    chooses = True

    @classmethod
    def check(cls, sweep: SweepConfig) -> list[str]:
        return [] if sweep.parameters else ["sweep.method = 'tpe': needs parameters to search"]

    @classmethod
    def count(cls, sweep: SweepConfig) -> int:
        return sweep.trials

    # --- the plan: the trials on disk ------------------------------------------------------

    def planned(self) -> list[TrialSpec]:
        """None known up front; the space is validated at every value and bound instead."""
        self.planner.validate_all(corners(self.sweep))
        return []

    def folders(self) -> list[str]:
        return sorted(d.name for d in self.paths.run_dir.glob("*/") if not d.name.startswith("."))

    def trials(self, found: dict[str, TrialRecord | None]) -> list[TrialSpec]:
        return self._searched_so_far(found.values())

    def _searched_so_far(self, records: Iterable[TrialRecord | None]) -> list[TrialSpec]:
        """Every repeat of each setting the records say the search started, in the order it started them."""
        first: dict[str, tuple[tuple[str, str], list[TrialSpec]]] = {}  # setting -> (when it started, trials)
        for record in records:
            if record is not None and record.experiment == self.planner.config.name:
                specs = self.planner.specs(record.settings)
                key, group = (record.started or "", specs[0].group), specs[0].group
                if record.trial_id in {s.trial_id for s in specs} and (group not in first or key < first[group][0]):
                    first[group] = (key, specs)
        return [spec for _, specs in sorted(first.values(), key=lambda f: f[0]) for spec in specs]

    def size(self, specs: list[TrialSpec]) -> int:
        return self.sweep.trials * self.sweep.repeats

    def to_run(self, specs: list[TrialSpec], todo: list[TrialSpec]) -> int:
        return len(todo) + max(0, self.sweep.trials - len({s.group for s in specs})) * self.sweep.repeats

    def summary(self, plan: SweepPlan) -> str:
        sweep, done = self.sweep, len(plan.specs) - len(plan.todo)
        head = (f"{self.planner.config.name}: tpe search of {sweep.trials} settings x {sweep.repeats} repeat(s)"
                f" over {len(sweep.parameters)} parameters{pruner_text(sweep)}")
        return head + (f" ({done} trials already finished, up to {plan.to_run} to run)" if plan.specs else "")

    def dry_run_lines(self, plan: SweepPlan) -> list[str]:
        return [f"  then up to {plan.to_run - len(plan.todo)} more trials, each setting chosen by TPE from the "
                "results so far"]

    def order(self, records: list[TrialRecord]) -> list[TrialRecord]:
        """The rows in the order a resumed sweep finds them."""
        order = {s.trial_id: i for i, s in enumerate(self._searched_so_far(records))}
        return sorted(records, key=lambda r: order.get(r.trial_id, len(order)))

    # --- the run ---------------------------------------------------------------------------

    def start(self, todo: list[TrialSpec], known: list[tuple[TrialSpec, TrialRecord]]) -> None:
        """`todo`: interrupted trials to resume first; `known`: trials with a record on disk, the
        finished ones told to the study."""
        self._distributions = {p.path: distribution(p) for p in self.sweep.parameters}
        self._study = optuna.create_study(direction=self.sweep.metric.goal, sampler=self._sampler(0))
        self._live: dict[str, optuna.Trial] = {}
        self._queue = deque(todo)
        self._groups = {spec.group for spec, _ in known} | {s.group for s in todo}
        outside = [spec.trial_id for spec, _ in known if not self._in_space(spec)]
        if outside:  # an edited space: their results stay in results.csv, but they are no evidence for it
            print(f"warning: {len(outside)} trial(s) were tried outside the edited search space (e.g. {outside[0]}); "
                  "kept as results, not told to the sampler", file=sys.stderr, flush=True)
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
        state, value = optuna_state(record, self.sweep.metric.name)
        params = self._params(spec.settings)
        return optuna.trial.create_trial(
            state=state, value=value, params=params, distributions={k: self._distributions[k] for k in params},
            intermediate_values=epoch_values(self.paths.trial(spec.trial_id).history))

    def _next(self) -> TrialSpec | None:
        if not self._queue:
            self._queue.extend(self._sample())
        if not self._queue:
            return None
        spec = self._queue.popleft()
        if spec.trial_id not in self._live and self._in_space(spec):  # (a setting's first trial: TPE asked it)
            params = self._params(spec.settings)
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
            specs = self.planner.specs(settings)
            if specs[0].group not in self._groups:
                self._groups.add(specs[0].group)
                self._live[specs[0].trial_id] = trial  # the other repeats get trials of their own
                return specs
            self._study.tell(trial, state=optuna.trial.TrialState.FAIL)  # tried already: ask again
        return []  # the space is exhausted (few categorical values): stop early

    def tell(self, spec: TrialSpec, record: TrialRecord) -> None:
        trial = self._live.pop(spec.trial_id, None)
        if trial is not None:
            state, value = optuna_state(record, self.sweep.metric.name)
            if state == optuna.trial.TrialState.PRUNED:  # TPE weighs a pruned trial by how far it got
                for epoch, v in epoch_values(self.paths.trial(spec.trial_id).history).items():
                    trial.report(v, epoch)
            self._study.tell(trial, value, state=state)
