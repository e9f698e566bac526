"""From an experiment config to the list of trials to run, every one validated.

Each setting of the search space is applied to the base config and validated
as a whole before anything trains, so a bad parameter path or value stops the
sweep up front. A trial's id is derived from its settings and repeat index:
the same setting always gets the same, readable id (`hidden=256,lr=0.01,rep=0`),
which is what lets an interrupted or extended sweep find its finished trials.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, replace
from typing import Any

from harness.config import schema as config_mod
from harness.config.methods import strategy_class
from harness.config.schema import ConfigError, ExperimentConfig
from harness.config.validate import plain

MAX_ID_LENGTH = 120


@dataclass(frozen=True)
class TrialSpec:
    """One trial to run: its resolved config, swept settings and identity."""

    trial_id: str
    group: str  # the setting's id, shared by its repeats
    settings: dict[str, Any]
    repeat: int
    config: ExperimentConfig
    prunable: bool = False  # set when it is started: a pruner may stop it after any epoch

    @classmethod
    def single(cls, config: ExperimentConfig, trial_id: str = "t") -> "TrialSpec":
        """One trial of `config` as it stands, outside any sweep."""
        return cls(trial_id, trial_id, {}, 0, config)


def _short_names(paths: list[str]) -> dict[str, str]:
    """`model.dropout` -> `dropout`, unless two swept paths end the same way."""
    last = [p.rsplit(".", 1)[-1] for p in paths]
    return {p: (s if last.count(s) == 1 else p) for p, s in zip(paths, last)}


def _format(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "-".join(_format(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", str(value))


def setting_id(settings: dict[str, Any]) -> str:
    """A readable, filesystem-safe id for a setting; hashed when it would be too long.

    Always one path component: `name=value` pairs whose characters outside
    [A-Za-z0-9_.+-] became '_' (so '/' or '..' in a swept string cannot escape).
    """
    if not settings:
        return "base"
    names = _short_names(list(settings))
    text = ",".join(f"{names[p]}={_format(v)}" for p, v in settings.items())
    if len(text) <= MAX_ID_LENGTH:
        return text
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=list).encode()).hexdigest()[:10]
    return f"{text[:MAX_ID_LENGTH - 11]}~{digest}"


def trial_id(group: str, repeat: int, repeats: int) -> str:
    """The id of repeat `repeat` of setting `group` in a sweep of `repeats` repeats per setting.

    The one place ids are made: `group` alone for a sweep without repeats,
    `group,rep=N` otherwise (and for any repeat beyond the first, whatever
    `repeats` is). `earlier_ids` are the names the same trial has under
    another `repeats`.
    """
    return group if repeat == 0 and repeats == 1 else f"{group},rep={repeat}"


def earlier_ids(group: str, repeat: int) -> list[str]:
    """Every id repeat `repeat` of setting `group` has had, whatever `sweep.repeats` was."""
    return list(dict.fromkeys([trial_id(group, repeat, 1), trial_id(group, repeat, 2)]))


def _show(settings: dict) -> str:
    return json.dumps(settings, default=list)


class Planner:
    """Turns settings into validated trials: the base config with each setting applied, repeats seeded."""

    def __init__(self, raw: dict, source: str = "config"):
        raw = plain(raw)  # numpy values from Python as YAML would give them
        self.config = config_mod.from_dict(raw, source)
        self.source = source
        self._base = {k: v for k, v in copy.deepcopy(raw).items() if k != "sweep"}
        problems = [f"sweep.parameters.{why}" for p in self.config.sweep.parameters
                    if (why := config_mod.path_problem(p.path, sweepable=True))]
        if problems:
            raise ConfigError(problems, source)

    def specs(self, settings: dict[str, Any]) -> list[TrialSpec]:
        """The trials (one per repeat) of one setting; ConfigError when the setting makes a bad config."""
        trial_raw = copy.deepcopy(self._base)
        for path, value in settings.items():
            config_mod.set_path(trial_raw, path, list(value) if isinstance(value, tuple) else value)
        group = setting_id(settings)
        try:
            trial_cfg = config_mod.from_dict(trial_raw, self.source)
        except ConfigError as e:
            raise ConfigError([f"{p} (setting {group})" for p in e.problems], self.source) from None
        repeats = self.config.sweep.repeats
        seeds = max(repeats, self.config.sweep.confirm.max_repeats if self.config.sweep.confirm else 0)
        if trial_cfg.train.seed + seeds - 1 > config_mod.SEED_MAX:
            what = "repeats" if seeds == repeats else "seeds (sweep.confirm.max_repeats)"
            raise ConfigError([f"train.seed = {trial_cfg.train.seed}: with {seeds} {what} (seeds seed .. seed + "
                               f"{seeds - 1}) must be <= {config_mod.SEED_MAX - seeds + 1} (setting {group})"], self.source)
        return [self._spec(group, settings, rep, trial_cfg) for rep in range(repeats)]

    def spec(self, settings: dict[str, Any], repeat: int) -> TrialSpec:
        """The trial of one setting's `repeat` (seed train.seed + repeat), also beyond sweep.repeats (a race's seeds)."""
        first = self.specs(settings)[0]  # repeat 0: the base seed
        return self._spec(first.group, first.settings, repeat, first.config)

    def _spec(self, group: str, settings: dict[str, Any], repeat: int, trial_cfg: ExperimentConfig) -> TrialSpec:
        return TrialSpec(trial_id(group, repeat, self.config.sweep.repeats), group, settings, repeat,
                         replace(trial_cfg, train=replace(trial_cfg.train, seed=trial_cfg.train.seed + repeat)))

    def validate_all(self, settings_list) -> list[TrialSpec]:
        """Every setting's trials, or one ConfigError listing every problem of every setting."""
        specs, problems = [], []
        per_setting: dict[str, list[str]] = {}  # a setting's problem, as said once -> the settings that have it
        owners: dict[str, dict] = {}  # setting id -> the setting that has it
        for settings in settings_list:
            group = setting_id(settings)
            if owners.setdefault(group, settings) is not settings:
                problems.append(f"sweep: settings {_show(owners[group])} and {_show(settings)} would share the trial "
                                f"id {group!r} (characters outside A-Za-z0-9_.+- become '_'); make the values differ "
                                "in more than those characters")
                continue
            try:
                specs += self.specs(settings)
            except ConfigError as e:
                for p in e.problems:
                    per_setting.setdefault(p.removesuffix(f" (setting {group})"), []).append(group)
        problems += [f"{p} (setting {groups[0]})" if len(groups) == 1 else
                     f"{p} (in {len(groups)} settings, e.g. {groups[0]})" for p, groups in per_setting.items()]
        if problems:
            raise ConfigError(problems, self.source)
        return specs


def plan(raw: dict, source: str = "config") -> tuple[ExperimentConfig, list[TrialSpec]]:
    """Validate `raw` (parsed YAML with overrides applied) and expand it into the trials known up front.

    Raises ConfigError listing every problem of every setting before any trial runs.
    A strategy that chooses its settings as it goes (tpe) plans none, but checks
    every value and bound of every parameter now.
    """
    planner = Planner(raw, source)
    return planner.config, strategy_class(planner.config.sweep.method)(planner).planned()
