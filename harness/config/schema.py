"""One YAML schema for an experiment, loaded into frozen dataclasses.

Every default lives here, so a config states only what differs. Loading
checks everything before any work: unknown keys (with the closest valid key
suggested), wrong types, values outside their range or choices. All problems
are reported at once, each with its dotted key path, the bad value and what is
allowed.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from harness import datasets, files
from harness.config.space import SweepConfig
from harness.config.validate import ConfigError, build, plain, unknown_key


# A value that becomes a directory name: one path component, nothing a shell or a path could misread.
COMPONENT = r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,99}"
COMPONENT_DOC = ("must be one directory name: 1 to 100 letters, digits, '_', '.', '+' or '-', "
                 "not starting with '.' or '-' (no '/', spaces or line breaks)")
SEED_MAX = 2**32 - 1  # NumPy and TensorFlow seeds are unsigned 32-bit


def _opt(default, doc: str, lo=None, hi=None, lo_open=False, hi_open=False, pattern=None, pattern_doc=None):
    """A field with its documentation, numeric bounds or text pattern (checked on load)."""
    return field(default=default, metadata={"doc": doc, "lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open,
                                            "pattern": pattern, "pattern_doc": pattern_doc})


@dataclass(frozen=True)
class DataConfig:
    dataset: Literal[datasets.NAMES] = _opt("mnist", "which MNIST-shaped dataset: digits, or Fashion-MNIST's clothes")
    validation: int = _opt(5000, "training images held out for validation (55,000/5,000 as in TF1)", lo=1, hi=59999)
    limit: int | None = _opt(None, "train on the first N training images only (tests, quick looks)", lo=1)
    test_limit: int | None = _opt(None, "evaluate on the first N test images only", lo=1, hi=10000)
    scaling: Literal["unit", "binary"] = _opt("unit", "pixels/255 in [0,1], or binarised (rounded to 0/1)")


@dataclass(frozen=True)
class ModelConfig:
    family: Literal["softmax", "mlp", "cnn"] = _opt("mlp", "softmax regression, MLP or the tutorial CNN")
    hidden: tuple[int, ...] = _opt((128,), "MLP hidden layer widths; their number is the depth", lo=1)
    activation: Literal["relu", "tanh", "sigmoid", "elu", "gelu"] = _opt("relu", "hidden activation")
    dropout: float = _opt(0.0, "drop probability after each hidden (MLP) or dense (CNN) layer", lo=0, hi=1, hi_open=True)
    l2: float = _opt(0.0, "L2 weight decay added to the loss, on kernels", lo=0)
    kernel_init: Literal["glorot_uniform", "he_normal", "truncated_normal", "normal", "zeros"] = _opt(
        "glorot_uniform", "kernel initialiser"
    )
    init_stddev: float = _opt(0.1, "stddev for the truncated_normal / normal initialisers", lo=0, lo_open=True)
    bias_init: float = _opt(0.0, "constant every bias starts at (the CNN tutorial uses 0.1)")
    conv_filters: tuple[int, ...] = _opt((32, 64), "CNN: filters of each conv + max-pool block", lo=1)
    kernel_size: int = _opt(5, "CNN: square convolution kernel size", lo=1, hi=28)
    dense_units: int = _opt(1024, "CNN: width of the dense layer before the output", lo=1)


@dataclass(frozen=True)
class ScheduleConfig:
    kind: Literal["constant", "exponential"] = _opt("constant", "learning-rate schedule")
    decay_rate: float = _opt(0.96, "exponential: lr multiplier per decay period", lo=0, hi=1, lo_open=True)
    decay_steps: int | None = _opt(None, "exponential: decay period in steps", lo=1)
    decay_epochs: float | None = _opt(None, "exponential: decay period in epochs (used when decay_steps is unset)", lo=0, lo_open=True)
    staircase: bool = _opt(False, "exponential: decay in whole periods, not continuously")


@dataclass(frozen=True)
class EarlyStoppingConfig:
    patience: int = _opt(0, "stop after this many epochs without validation-accuracy gain (0 = off)", lo=0)
    min_delta: float = _opt(0.0, "smallest validation-accuracy gain that counts", lo=0)


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = _opt(128, "examples per step", lo=1)
    epochs: int = _opt(5, "passes over the training set (ignored when steps is set)", lo=1)
    steps: int | None = _opt(None, "train exactly this many steps instead of whole epochs", lo=1)
    optimizer: Literal["sgd", "momentum", "adam", "rmsprop", "adagrad"] = _opt("adam", "update rule")
    lr: float = _opt(1e-3, "(initial) learning rate", lo=0, lo_open=True)
    momentum: float = _opt(0.9, "momentum (the momentum optimizer)", lo=0, hi=1, hi_open=True)
    nesterov: bool = _opt(False, "Nesterov momentum (momentum)")
    beta_1: float = _opt(0.9, "adam first-moment decay", lo=0, hi=1, hi_open=True)
    beta_2: float = _opt(0.999, "adam second-moment decay", lo=0, hi=1, hi_open=True)
    rho: float = _opt(0.9, "rmsprop gradient-square decay", lo=0, hi=1, hi_open=True)
    epsilon: float = _opt(1e-7, "adam / rmsprop / adagrad numerical epsilon", lo=0, lo_open=True)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig, metadata={"doc": "learning-rate schedule"})
    ema: float | None = _opt(None, "decay of an exponential moving average of the weights, used for evaluation", lo=0, hi=1, lo_open=True, hi_open=True)
    loss: Literal["crossentropy", "mse"] = _opt("crossentropy", "softmax cross-entropy, or MSE on one-hot labels")
    seed: int = _opt(0, "seeds Python, NumPy and TensorFlow (repeat r uses seed + r)", lo=0, hi=SEED_MAX)
    deterministic: bool = _opt(False, "deterministic TensorFlow ops (slower, bit-reproducible)")
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig, metadata={"doc": "early stopping"})


@dataclass(frozen=True)
class LoggingConfig:
    every_steps: int = _opt(100, "train loss/accuracy scalars every N steps (0 = per epoch only)", lo=0)
    histograms_every: int = _opt(1, "weight/activation histograms every N epochs (0 = off)", lo=0)
    images: bool = _opt(True, "confusion matrix and misclassified digits at the end")
    profile_steps: tuple[int, ...] | None = _opt(None, "profiler trace for steps [start, stop]", lo=1)
    checkpoint_steps: int = _opt(0, "checkpoint every N steps for resume (0 = every epoch)", lo=0)
    keep_model: Literal["final", "best", "weights", "none"] = _opt(
        "final", "what a finished trial keeps: final = model.keras without optimizer state (predict and serve "
        "load it), best = model.keras of the best-validation epoch (then also the one tested), "
        "weights = model.weights.h5 only, none = no model file")


@dataclass(frozen=True)
class ExperimentConfig:
    name: str = _opt("experiment", "names the eventlog/ and runs/ directories", pattern=COMPONENT,
                     pattern_doc=COMPONENT_DOC + " (it defaults to the config file's name; set one with --set name=NAME)")
    description: str = _opt("", "free text, shown in TensorBoard")
    data: DataConfig = field(default_factory=DataConfig, metadata={"doc": "data"})
    model: ModelConfig = field(default_factory=ModelConfig, metadata={"doc": "model"})
    train: TrainConfig = field(default_factory=TrainConfig, metadata={"doc": "training"})
    logging: LoggingConfig = field(default_factory=LoggingConfig, metadata={"doc": "logging"})
    sweep: SweepConfig = field(default_factory=SweepConfig, metadata={"doc": "search space (see harness/config/space.py); absent = one trial"})


def _check_consistency(cfg: ExperimentConfig, problems: list[str]) -> None:
    """Rules that involve more than one key."""
    if cfg.logging.profile_steps is not None:
        p = cfg.logging.profile_steps
        if len(p) != 2 or p[0] > p[1]:
            problems.append(f"logging.profile_steps = {list(p)}: must be [start, stop] with start <= stop")
    if cfg.logging.keep_model == "best" and cfg.train.ema is not None:
        problems.append("logging.keep_model = 'best' with train.ema: the best epoch is judged on the moving "
                        "average, which is only swapped in at the end; use keep_model: final")
    s = cfg.train.schedule
    if s.kind == "exponential" and s.decay_steps is None and s.decay_epochs is None:
        problems.append("train.schedule: exponential decay needs decay_steps or decay_epochs")
    if cfg.model.family == "cnn" and len(cfg.model.conv_filters) == 0:
        problems.append("model.conv_filters = []: the CNN needs at least one conv block")
    if cfg.model.family == "cnn" and 28 // (2 ** len(cfg.model.conv_filters)) < 1:
        problems.append(f"model.conv_filters: {len(cfg.model.conv_filters)} pooling blocks shrink 28x28 below 1x1 (at most 4)")
    if cfg.model.family == "mlp" and len(cfg.model.hidden) == 0:
        problems.append("model.hidden = []: an MLP needs at least one hidden layer (use family: softmax for none)")


def path_problem(dotted: str, sweepable: bool = False) -> str | None:
    """None when `dotted` names a config value, else what is wrong with it."""
    if not all(dotted.split(".")):
        return f"{dotted!r}: not a dotted config path (like train.lr)"
    if sweepable and dotted.split(".")[0] in ("name", "sweep"):
        return f"{dotted}: cannot be swept (sweep a value under data, model, train or logging)"
    cls, path = ExperimentConfig, ""
    for key in dotted.split("."):
        if not dataclasses.is_dataclass(cls):
            return f"{dotted}: {path} is a value, not a section"
        fields = [f.name for f in dataclasses.fields(cls)]
        if key not in fields:
            return unknown_key(path, key, fields)
        cls, path = typing.get_type_hints(cls)[key], f"{path}.{key}" if path else key
    if sweepable and dataclasses.is_dataclass(cls):
        return f"{dotted}: is a section; sweep one of its values ({', '.join(f.name for f in dataclasses.fields(cls))})"
    return None


def is_list_key(dotted: str) -> bool:
    """Whether the config value `dotted` is a list (`model.hidden`; a bare value is taken as a list of one)."""
    tp: Any = ExperimentConfig
    for key in dotted.split("."):
        if not dataclasses.is_dataclass(tp) or key not in {f.name for f in dataclasses.fields(tp)}:
            return False
        tp = typing.get_type_hints(tp)[key]
    return any(typing.get_origin(t) is tuple for t in (tp, *typing.get_args(tp)))


def from_dict(raw: Any, source: str = "config") -> ExperimentConfig:
    """Validate a plain mapping (parsed YAML; numpy values from Python are taken as YAML's) into an ExperimentConfig."""
    problems: list[str] = []
    cfg = build(ExperimentConfig, plain(raw), "", problems)
    if cfg is not None and not problems:
        _check_consistency(cfg, problems)
    if problems:
        raise ConfigError(problems, source)
    return cfg


MAX_VALUES = 1_000_000  # values a config may hold with its YAML aliases expanded (a list setting of 10,000 ~ 50,000)
MAX_DEPTH = 32  # nesting a config may have (it needs about 5); deeper would exhaust recursion downstream


def _expanded_size(data: Any) -> int:
    """Values in `data`, an aliased (shared) part counted each time it appears.

    ValueError for a cycle or nesting beyond MAX_DEPTH. Shared parts are
    measured once, so a billion-laughs file takes microseconds here instead
    of hanging whatever reads it next.
    """
    measured: dict[int, tuple[int, int]] = {}  # id -> (values, height)
    active: set[int] = set()

    def measure(node) -> tuple[int, int]:
        if not isinstance(node, (list, dict)):
            return 1, 0
        key = id(node)
        if key not in measured:
            if key in active:
                raise ValueError("a YAML alias refers to the value that contains it")
            if len(active) >= MAX_DEPTH:
                raise ValueError(f"YAML nested more than {MAX_DEPTH} levels deep")
            active.add(key)
            parts = [measure(child) for child in (node.values() if isinstance(node, dict) else node)]
            active.discard(key)
            measured[key] = (1 + sum(n for n, _ in parts), 1 + max((h for _, h in parts), default=0))
        if len(active) + measured[key][1] > MAX_DEPTH:
            raise ValueError(f"YAML nested more than {MAX_DEPTH} levels deep")
        return measured[key]

    return measure(data)[0]


def parse_yaml(text: str, source: str) -> Any:
    """Parsed YAML, refusing what would hang or crash whoever reads it: deep nesting, alias bombs, cycles."""
    try:
        data = yaml.safe_load(text)
        n = _expanded_size(data)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError([f"YAML syntax error: {problem}"], f"{source}{where}") from None
    except RecursionError:
        raise ConfigError(["YAML nested too deeply"], source) from None
    except ValueError as e:
        raise ConfigError([str(e)], source) from None
    if n > MAX_VALUES:
        raise ConfigError([f"{n:,} values once YAML aliases are expanded; at most {MAX_VALUES:,}"], source)
    return data


def set_path(raw: dict, dotted: str, value: Any) -> None:
    """Set `a.b.c` in nested dicts (creating levels); key names are checked on validation.

    Under `sweep.parameters` the rest of the path is one parameter's name, dots included
    (`sweep.parameters.model.dropout` sets the parameter `model.dropout`)."""
    keys = dotted.split(".")
    if keys[:2] == ["sweep", "parameters"] and len(keys) > 3:
        keys = keys[:2] + [".".join(keys[2:])]
    node = raw
    for k in keys[:-1]:
        if not isinstance(node.get(k), dict):
            node[k] = {}
        node = node[k]
    node[keys[-1]] = value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply `--set key.path=value` strings; values are parsed as YAML (`0.1`, `[256,128]`).

    A key the sweep varies is refused (its value would be overwritten by every trial's setting),
    naming the override of the swept values that does what was meant."""
    problems = []
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError([f"--set {item!r}: expected key.path=value"], "command line")
        key = key.strip()
        set_path(raw, key, parse_yaml(text, f"--set {key}"))
        parameters = raw.get("sweep", {}).get("parameters") if isinstance(raw.get("sweep"), dict) else None
        if isinstance(parameters, dict) and key in parameters:
            problems.append(f"--set {key}={text.strip()}: {key} is swept (sweep.parameters.{key}: "
                            f"{parameters[key]!r}), so every trial would replace it; to train only this value, "
                            f"set the swept values instead: --set 'sweep.parameters.{key}=[{text.strip()}]'")
    if problems:
        raise ConfigError(problems, "command line")
    return raw


def read_yaml(path: str | Path) -> Any:
    """The YAML in `path`, as `parse_yaml` parses it, from at most files.MAX_READ_BYTES of UTF-8;
    ConfigError (a ValueError) naming the file for damage of any kind, OSError as reading raises it."""
    try:
        text = files.read_text(Path(path))
    except ValueError as e:
        raise ConfigError([str(e).removeprefix(f"{path}: ")], str(path)) from None
    return parse_yaml(text, str(path))


def load_raw(path: str | Path, overrides: list[str] = ()) -> dict:
    """Read a YAML config and apply `--set` overrides; the name defaults to the file's stem."""
    path = Path(path)
    try:
        raw = read_yaml(path)
    except OSError as e:
        raise ConfigError([f"cannot read config: {e.strerror}"], str(path)) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"the top level must be a mapping of sections, got {type(raw).__name__}"], str(path))
    raw.setdefault("name", path.stem)
    return apply_overrides(raw, list(overrides))


def load(path: str | Path, overrides: list[str] = ()) -> ExperimentConfig:
    """Read, override and validate a YAML config."""
    return from_dict(load_raw(path, overrides), str(path))


def to_dict(cfg) -> dict:
    """Plain nested data (tuples as lists), ready for YAML or JSON."""
    def plain(v):
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(cfg))


def trial_dict(cfg: ExperimentConfig) -> dict:
    """What one trial trains with: the config without its sweep section."""
    return {k: v for k, v in to_dict(cfg).items() if k != "sweep"}


def trial_yaml(cfg: ExperimentConfig) -> str:
    return yaml.safe_dump(trial_dict(cfg), sort_keys=False)


def scalar(value: Any) -> Any:
    """A config value as one table cell or hparam: lists become `256,128`."""
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """Nested mapping to dotted keys with scalar values (see `scalar`)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = scalar(v)
    return out
