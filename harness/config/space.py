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
import json
import math
import random
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal

from harness.metrics import FINAL
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
            return rng.randint(math.ceil(self.min), math.floor(self.max))
        if self.distribution == "uniform":
            x = rng.uniform(self.min, self.max)
        else:
            x = math.exp(rng.uniform(math.log(self.min), math.log(self.max)))
        # Four significant digits: readable trial names, no loss that matters.
        return float(f"{x:.4g}")


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
class _SweepScalars:
    """The plain keys of a sweep section, validated by the generic loader."""

    method: str = "grid"  # a registered search strategy (harness/sweep/strategies.py)
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
    fuse: str | int = "auto"  # auto, off or N: trials trained together as one fused model (sweep/fusing.py)

    @classmethod
    def from_dict(cls, raw: Any, path: str, problems: list[str]) -> "SweepConfig | None":
        """Validate the section (the config loader calls this for `sweep`)."""
        from harness.sweep.strategies import names, strategy_class  # the registry (it imports this module)

        if not isinstance(raw, dict):
            problems.append(f"{path} = {raw!r}: must be a mapping")
            return None
        raw = dict(raw)
        params_raw = raw.pop("parameters", None) or {}
        settings = _settings(raw.pop("settings", None), f"{path}.settings", problems)
        if settings:  # each listed key becomes a parameter whose values are those listed
            params_raw = {k: list(dict.fromkeys(_hashable(s[k]) for s in settings if k in s))
                          for k in dict.fromkeys(k for s in settings for k in s)}
        metric_raw, pruner_raw = raw.pop("metric", None), raw.pop("pruner", None)
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
        if base is None or metric is None or pruner is None or any(p is None for p in params):
            return None
        sweep = cls(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)},
                    metric=metric, pruner=pruner, parameters=params, settings=settings, fuse=fuse)
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
        if strategy.takes_settings != bool(settings):
            problems.append(f"{path}: method 'list' goes with a non-empty 'settings' list (and only it)")
        n_settings = count(sweep)
        if n_settings * sweep.repeats > MAX_TRIALS:
            problems.append(f"{path}: {n_settings:,} settings x {sweep.repeats:,} repeats = "
                            f"{n_settings * sweep.repeats:,} trials, more than the {MAX_TRIALS:,} a sweep may have; "
                            "use fewer values, settings, samples, trials or repeats")
            return None
        return sweep

    def to_raw(self) -> dict:
        """The section as YAML would spell it (from_dict(to_raw()) gives it back)."""
        raw = {f.name: getattr(self, f.name) for f in dataclasses.fields(_SweepScalars)}
        raw.update(metric=dataclasses.asdict(self.metric), pruner=dataclasses.asdict(self.pruner))
        if self.settings:
            raw["settings"] = [{k: list(v) if isinstance(v, tuple) else v for k, v in s.items()} for s in self.settings]
        else:
            raw["parameters"] = {p.path: p.to_raw() for p in self.parameters}
        return raw


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def _settings(raw: Any, path: str, problems: list[str]) -> tuple[dict, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(s, dict) and s for s in raw):
        problems.append(f"{path}: must be a list of mappings of dotted config paths to values")
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
    if "value" in raw:
        return Parameter(key, values=(raw["value"],))
    if "values" in raw:
        values = raw["values"]
        if not isinstance(values, list) or not values:
            problems.append(f"{path}.values = {values!r}: must be a non-empty list")
            return None
        return Parameter(key, values=tuple(tuple(v) if isinstance(v, list) else v for v in values))
    dist = raw.get("distribution")
    if dist not in DISTRIBUTIONS:
        problems.append(f"{path}.distribution = {dist!r}: must be one of {', '.join(DISTRIBUTIONS)} (or give values)")
        return None
    lo, hi = raw.get("min"), raw.get("max")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)):
        problems.append(f"{path}: {dist} needs numeric min and max, got min={lo!r}, max={hi!r}")
        return None
    if lo >= hi or (dist == "log_uniform" and lo <= 0):
        need = "0 < min < max" if dist == "log_uniform" else "min < max"
        problems.append(f"{path}: min={lo!r}, max={hi!r}: must satisfy {need}")
        return None
    return Parameter(key, distribution=dist, min=lo, max=hi)


def _key(setting: dict) -> str:
    return json.dumps(setting, sort_keys=True, default=list)


def count(sweep: SweepConfig) -> int:
    """How many settings `expand` gives at most (duplicates not yet dropped), without expanding."""
    from harness.sweep.strategies import strategy_class

    return strategy_class(sweep.method).count(sweep) if sweep.parameters else 1


def iter_settings(sweep: SweepConfig) -> Iterator[dict[str, Any]]:
    """The distinct settings of a sweep whose strategy plans them up front, each a dict {dotted path:
    value}, one at a time, in the strategy's order (harness/sweep/strategies.py). Duplicates appear once."""
    from harness.sweep.strategies import strategy_class

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


def extremes(sweep: SweepConfig) -> list[dict[str, Any]]:
    """Settings that take each parameter to each of its values or bounds, the others at their first:
    enough to validate a space that is searched, not enumerated."""
    first = {p.path: p.values[0] if p.values is not None else p.min for p in sweep.parameters}
    out: dict[str, dict] = {}
    for p in sweep.parameters:
        for v in p.values if p.values is not None else (p.min, p.max):
            setting = {**first, p.path: int(v) if p.distribution == "int_uniform" else v}
            out.setdefault(_key(setting), setting)
    return list(out.values())
