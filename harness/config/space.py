"""The sweep's search space: which settings to try, and how many times.

A `sweep` section in the YAML, in the spirit of W&B sweeps:

    sweep:
      method: grid            # or random, or list (explicit settings, below), or tpe (model-based)
      samples: 20             # random: how many settings to draw
      trials: 20              # tpe: how many settings to try, each chosen from the results so far
      seed: 0                 # random, tpe: sampling seed (same seed, same settings)
      pruner: {kind: asha, min_epochs: 1, reduction_factor: 3}   # or median (warmup_epochs, startup_trials), none
      repeats: 3              # independent training seeds per setting
      executor: local         # or ray (ray_address: an existing cluster; default a local Ray)
      metric: {name: best_val_accuracy, goal: maximize}   # what ranks and guides the search
      parameters:
        model.hidden: [[128], [512, 256]]          # a list of values
        model.dropout: {values: [0.0, 0.2]}        # the same, spelled out
        train.lr: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}
        train.batch_size: {distribution: int_uniform, min: 32, max: 256}

With `method: list`, `settings` names each setting explicitly instead:

    sweep:
      method: list
      settings:
        - {model.hidden: [512], train.lr: 0.1}
        - {model.hidden: [256, 128], train.lr: 0.01}

`expand` turns it into settings: one dict of dotted paths to values each,
duplicates dropped, in a deterministic order. A sweep is counted before it is
expanded (`count`): more than MAX_TRIALS trials is refused on validation, so a
grid of 10^7 combinations or `samples: 1000000000` answers at once instead of
filling memory.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import random
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal

from harness.metrics import FINAL
from harness.config.methods import names, strategy_class
from harness.config.validate import build, suggestion, unknown_key

DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform")
MAX_TRIALS = 10_000  # settings x repeats; far beyond what 2 cores train in a day, small enough to plan in seconds


@dataclass(frozen=True)
class Parameter:
    """One swept key: a list of values, or a distribution with bounds."""

    path: str
    values: tuple | None = None
    distribution: str | None = None
    min: float | None = None
    max: float | None = None

    @property
    def domain(self) -> str:
        if self.values is not None:
            return "{" + ", ".join(json.dumps(v) for v in self.values) + "}"
        return f"{self.distribution}[{self.min}, {self.max}]"

    def to_raw(self) -> dict:
        if self.values is not None:
            return {"values": [list(v) if isinstance(v, tuple) else v for v in self.values]}
        return {"distribution": self.distribution, "min": self.min, "max": self.max}

    def sample(self, rng: random.Random):
        if self.values is not None:
            return rng.choice(self.values)
        if self.distribution == "int_uniform":
            return rng.randint(self.min, self.max)
        if self.distribution == "uniform":
            return self.rounded(rng.uniform(self.min, self.max))
        return self.rounded(math.exp(rng.uniform(math.log(self.min), math.log(self.max))))

    def rounded(self, x: float) -> float:
        """A sampled number to four significant digits (readable trial names, no loss that matters),
        never outside [min, max]: the bounds are what validation checked."""
        return min(max(float(f"{x:.4g}"), self.min), self.max)

    @property
    def bounds(self) -> tuple:
        """The extreme values a search can produce: its values, or min and max as the type sampled."""
        if self.values is not None:
            return self.values
        return (self.min, self.max) if self.distribution == "int_uniform" else (float(self.min), float(self.max))


@dataclass(frozen=True)
class Metric:
    # Validation, not test: choosing the winner on the test set inflates its score.
    name: str = "best_val_accuracy"
    goal: Literal["maximize", "minimize"] = "maximize"


@dataclass(frozen=True)
class PrunerConfig:
    """Stopping hopeless trials after an epoch, judged on validation accuracy (Optuna's pruners)."""

    kind: Literal["none", "asha", "median"] = "none"
    min_epochs: int = field(default=1, metadata={"lo": 1})  # asha: epochs every trial gets (its first rung)
    reduction_factor: int = field(default=3, metadata={"lo": 2})  # asha: 1 in this many goes on at each rung
    warmup_epochs: int = field(default=1, metadata={"lo": 0})  # median: epochs before a trial can be stopped
    startup_trials: int = field(default=3, metadata={"lo": 0})  # median: trials that finish before any is stopped


@dataclass(frozen=True)
class ConfirmConfig:
    """After the search, race the top settings with more seeds until the winner is clear (harness/racing/rounds.py)."""

    top: int = field(default=3, metadata={"lo": 2, "hi": 1000})  # settings raced, best first by the sweep's metric
    max_repeats: int = field(default=8, metadata={"lo": 2, "hi": 1000})  # seeds each at most, the search's included
    alpha: float = field(default=0.05, metadata={"lo": 0, "lo_open": True, "hi": 0.5, "hi_open": True})  # the race's error
    min_delta: float | None = field(default=None, metadata={"lo": 0})  # settings closer count as tied (None: 0.002 for an accuracy, else 0)


@dataclass(frozen=True)
class _SweepScalars:
    """The plain keys of a sweep section, validated by the generic loader."""

    SIBLING_KEYS = ("metric", "pruner", "parameters", "settings")  # the section's other keys, for suggestions

    method: str = "grid"  # a registered search strategy (harness/search/strategies.py)
    samples: int = field(default=10, metadata={"lo": 1})  # random: settings to draw
    trials: int = field(default=20, metadata={"lo": 1})  # tpe: settings to try (each `repeats` times)
    seed: int = field(default=0, metadata={"lo": 0})
    repeats: int = field(default=1, metadata={"lo": 1})
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None  # an existing Ray cluster (ray://host:10001 or auto); None = a local Ray


@dataclass(frozen=True)
class SweepConfig(_SweepScalars):
    metric: Metric = field(default_factory=Metric)
    pruner: PrunerConfig = field(default_factory=PrunerConfig)
    parameters: tuple[Parameter, ...] = ()
    settings: tuple[dict, ...] = ()  # method list: the settings themselves
    confirm: ConfirmConfig | None = None  # race the top settings after the search (None: no race)
    fuse: str | int = "auto"  # auto, off or N: trials trained together as one fused model (training/fusion/packing.py)

    @classmethod
    def from_dict(cls, raw: Any, path: str, problems: list[str]) -> "SweepConfig | None":
        """Validate the section (the config loader calls this for `sweep`)."""
        if not isinstance(raw, dict):
            problems.append(f"{path} = {raw!r}: must be a mapping")
            return None
        raw, known = dict(raw), len(problems)
        params_raw = raw.pop("parameters", None) or {}
        settings_raw = raw.pop("settings", None)
        settings = _settings(settings_raw, f"{path}.settings", problems)
        if settings:  # each listed key becomes a parameter whose values are those listed
            params_raw = {k: list(dict.fromkeys(s[k] for s in settings if k in s))
                          for k in dict.fromkeys(k for s in settings for k in s)}
        metric_raw, pruner_raw, confirm_raw = raw.pop("metric", None), raw.pop("pruner", None), raw.pop("confirm", None)
        fuse = raw.pop("fuse", "auto")
        fuse = "off" if fuse is False else fuse  # YAML reads a bare off as false
        if not (fuse in ("auto", "off") or (type(fuse) is int and 1 <= fuse <= 1000)):
            problems.append(f"{path}.fuse = {fuse!r}: must be auto, off or the most trials fused into one model "
                            "(an integer, 1 to 1000)")
        base = build(_SweepScalars, raw, path, problems)
        if base is not None and base.method not in names():
            problems.append(f"{path}.method = {base.method!r}: must be one of {', '.join(names())}"
                            + suggestion(str(base.method), names(), "methods"))
            base = None
        metric = build(Metric, metric_raw, f"{path}.metric", problems) if metric_raw is not None else Metric()
        pruner = build(PrunerConfig, pruner_raw, f"{path}.pruner", problems) if pruner_raw is not None else PrunerConfig()
        if metric is not None and metric.name not in FINAL:
            problems.append(f"{path}.metric.name = {metric.name!r}: unknown metric"
                            + suggestion(str(metric.name), FINAL, "metrics"))
        if not isinstance(params_raw, dict):
            problems.append(f"{path}.parameters: must be a mapping of dotted config paths to values")
            params_raw = {}
        params = tuple(_parameter(str(k), v, f"{path}.parameters.{k}", problems) for k, v in params_raw.items())
        if len(problems) > known or base is None or metric is None or pruner is None or any(p is None for p in params):
            return None  # (a value of the wrong type would break the checks below)
        sweep = cls(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)},
                    metric=metric, pruner=pruner, parameters=params, settings=settings, fuse=fuse,
                    confirm=_confirm(confirm_raw, base.repeats, metric, f"{path}.confirm", problems))
        strategy = strategy_class(sweep.method)
        problems.extend(strategy.check(sweep))
        adaptive = [w for w, on in ((f"method {base.method!r}", strategy.chooses),
                                    (f"pruner {pruner.kind!r}", pruner.kind != "none")) if on]
        if adaptive and metric.name.startswith("test_"):
            problems.append(f"{path}.metric.name = {metric.name!r}: {' and '.join(adaptive)} choose on the metric, and "
                            "choosing on the test set inflates the winner's test score: use best_val_accuracy "
                            "(the test accuracy of what is chosen is still reported)")
        elif pruner.kind != "none" and metric.name != "best_val_accuracy":
            problems.append(f"{path}.metric.name = {metric.name!r}: pruner {pruner.kind!r} compares trials epoch by "
                            "epoch on validation accuracy: use best_val_accuracy")
        if strategy.takes_settings != bool(settings) and (settings or settings_raw is None):  # (not: bad settings)
            problems.append(f"{path}: method 'list' goes with a non-empty 'settings' list (and only it)")
        n_settings = count(sweep)
        if n_settings * sweep.repeats > MAX_TRIALS:
            problems.append(f"{path}: {n_settings:,} settings x {sweep.repeats:,} repeats = "
                            f"{n_settings * sweep.repeats:,} trials, more than the {MAX_TRIALS:,} a sweep may have; "
                            "use fewer values, settings, samples, trials or repeats")
            return None
        return sweep

    def values_of(self, path: str) -> set:
        """The values the search may give the key `path`, listed ones (a distribution's are not known ahead)."""
        swept = [v for p in self.parameters if p.path == path for v in (p.values or ())]
        return {*swept, *(s[path] for s in self.settings if path in s)}

    def to_raw(self) -> dict:
        """The section as YAML would spell it (from_dict(to_raw()) gives it back)."""
        raw = {f.name: getattr(self, f.name) for f in dataclasses.fields(_SweepScalars)}
        raw.update(metric=dataclasses.asdict(self.metric), pruner=dataclasses.asdict(self.pruner))
        if self.settings:
            raw["settings"] = [{k: list(v) if isinstance(v, tuple) else v for k, v in s.items()} for s in self.settings]
        else:
            raw["parameters"] = {p.path: p.to_raw() for p in self.parameters}
        if self.confirm is not None:
            raw["confirm"] = dataclasses.asdict(self.confirm)
        raw["fuse"] = self.fuse
        return raw


def _confirm(raw: Any, repeats: int, metric: Metric, path: str, problems: list[str]) -> ConfirmConfig | None:
    """`sweep.confirm`: absent or false for no race, true or a mapping for one."""
    if raw is None or raw is False:
        return None
    if not isinstance(raw, (bool, dict)):
        problems.append(f"{path} = {raw!r}: must be true, false or a mapping (top, max_repeats, alpha, min_delta)")
        return None
    confirm = build(ConfirmConfig, {} if raw is True else raw, path, problems)
    if confirm is None:
        return None
    if 2 <= confirm.max_repeats <= repeats:
        problems.append(f"{path}.max_repeats = {confirm.max_repeats}: must be more than sweep.repeats ({repeats}), "
                        "the seeds each setting has from the search")
    if metric.name.startswith("test_"):
        problems.append(f"sweep.metric.name = {metric.name!r}: confirm races on the metric, and choosing on the test "
                        "set inflates the winner's test score: use best_val_accuracy (the test accuracy of the "
                        "survivors is still shown)")
    return confirm


def _hashable(value):
    """A swept value as settings hold it: lists (nested too) as tuples."""
    return tuple(_hashable(v) for v in value) if isinstance(value, (list, tuple)) else value


def _value_problem(path: str, value) -> str | None:
    """Why `value` cannot be one swept value (a mapping, or one inside a list), or None."""
    if isinstance(value, dict) or (isinstance(value, (list, tuple))
                                   and any(_value_problem(path, v) for v in value)):
        return (f"{path} = {value!r:.80}: a mapping is not a value of one key; "
                "sweep the keys inside it, each by its dotted path")
    return None


def _settings(raw: Any, path: str, problems: list[str]) -> tuple[dict, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(s, dict) and s for s in raw):
        problems.append(f"{path}: must be a list of mappings of dotted config paths to values")
        return ()
    bad = [why for i, s in enumerate(raw) for k, v in s.items() if (why := _value_problem(f"{path}[{i}].{k}", v))]
    if bad:
        problems.extend(bad)
        return ()
    return tuple({str(k): _hashable(v) for k, v in s.items()} for s in raw)


def _parameter(key: str, raw: Any, path: str, problems: list[str]) -> Parameter | None:
    if isinstance(raw, list):
        raw = {"values": raw}
    elif not isinstance(raw, dict):
        raw = {"value": raw}
    allowed = {"values", "value", "distribution", "min", "max"}
    bad = [k for k in raw if k not in allowed]
    if bad:
        problems.extend(unknown_key(path, str(k), sorted(allowed)) for k in bad)
        return None
    if "value" in raw or "values" in raw:
        values = [raw["value"]] if "value" in raw else raw["values"]
        if not isinstance(values, list) or not values:
            problems.append(f"{path}.values = {values!r}: must be a non-empty list")
            return None
        bad = [why for i, v in enumerate(values) if (why := _value_problem(f"{path}[{i}]", v))]
        problems.extend(bad)
        return None if bad else Parameter(key, values=tuple(_hashable(v) for v in values))
    dist = raw.get("distribution")
    if dist not in DISTRIBUTIONS:
        problems.append(f"{path}.distribution = {dist!r}: must be one of {', '.join(DISTRIBUTIONS)} (or give values)")
        return None
    lo, hi = raw.get("min"), raw.get("max")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)):
        problems.append(f"{path}: {dist} needs numeric min and max, got min={lo!r}, max={hi!r}")
        return None
    if not all(_finite(v) for v in (lo, hi)):
        problems.append(f"{path}: min={lo!r}, max={hi!r}: must be finite numbers")
        return None
    if dist == "int_uniform":  # the integers it draws from
        if math.ceil(lo) > math.floor(hi):
            problems.append(f"{path}: min={lo!r}, max={hi!r}: int_uniform needs an integer between min and max")
            return None
        return Parameter(key, distribution=dist, min=math.ceil(lo), max=math.floor(hi))
    if lo >= hi or (dist == "log_uniform" and lo <= 0):
        need = "0 < min < max" if dist == "log_uniform" else "min < max"
        problems.append(f"{path}: min={lo!r}, max={hi!r}: must satisfy {need}")
        return None
    return Parameter(key, distribution=dist, min=lo, max=hi)


def _finite(x) -> bool:
    try:
        return math.isfinite(x)
    except OverflowError:  # an integer of hundreds of digits
        return False


def _key(setting: dict) -> str:
    return json.dumps(setting, sort_keys=True, default=list)


def count(sweep: SweepConfig) -> int:
    """How many settings `expand` gives at most (duplicates not yet dropped), without expanding."""
    return strategy_class(sweep.method).count(sweep) if sweep.parameters else 1


def iter_settings(sweep: SweepConfig) -> Iterator[dict[str, Any]]:
    """The distinct settings of a sweep whose strategy plans them up front, each a dict {dotted path:
    value}, one at a time, in the strategy's order (harness/search/strategies.py). Duplicates appear once."""
    if not sweep.parameters:
        yield {}
        return
    seen: set[str] = set()
    for combo in strategy_class(sweep.method).settings(sweep):
        key = _key(combo)
        if key not in seen:
            seen.add(key)
            yield combo


def expand(sweep: SweepConfig) -> list[dict[str, Any]]:
    """`iter_settings` as a list (a validated sweep has at most MAX_TRIALS settings)."""
    return list(iter_settings(sweep))


MAX_CORNERS = 1_000  # settings validated for a searched space (about 0.7 ms each)


def corners(sweep: SweepConfig) -> list[dict[str, Any]]:
    """The settings that validate a space that is searched, not enumerated (tpe).

    Every value and bound of every parameter, in every combination when there
    are at most MAX_CORNERS (so rules across keys, like keep_model with ema,
    are met by whatever the search picks), else each with the others at their
    first. Checking the bounds covers a range: each key's own limits are an
    interval, and samples are rounded within the bounds (Parameter.rounded).
    """
    params = sweep.parameters
    if math.prod(len(p.bounds) for p in params) <= MAX_CORNERS:
        combos = (dict(zip([p.path for p in params], vals)) for vals in itertools.product(*(p.bounds for p in params)))
    else:
        first = {p.path: p.bounds[0] for p in params}
        combos = ({**first, p.path: v} for p in params for v in p.bounds)
    return list({_key(c): c for c in combos}.values())
