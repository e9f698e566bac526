import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import schema as config
from harness.config.schema import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_defaults_fill_what_the_file_does_not_say(tmp_path):
    cfg = config.load(write(tmp_path, "model: {hidden: [256, 128], dropout: 0.2}\n"))
    assert cfg.name == "exp"
    assert cfg.model.hidden == (256, 128) and cfg.model.dropout == 0.2
    assert cfg.train.optimizer == "adam" and cfg.data.validation == 5000


def test_yaml_syntax_error_names_line_and_column(tmp_path):
    path = write(tmp_path, "model:\n  hidden: [1, 2\ntrain: {}\n")
    with pytest.raises(ConfigError, match=r"exp\.yaml:3:\d+: YAML syntax error"):
        config.load(path)


def test_unknown_key_suggests_the_closest(tmp_path):
    with pytest.raises(ConfigError, match=r"model\.hiden: unknown key; did you mean 'hidden'\?"):
        config.load(write(tmp_path, "model: {hiden: [10]}\n"))
    with pytest.raises(ConfigError, match=r"trian: unknown key; did you mean 'train'\?"):
        config.load(write(tmp_path, "trian: {lr: 0.1}\n"))


@pytest.mark.parametrize("text, message", [
    ("train: {lr: fast}", r"train\.lr = 'fast': must be a number"),
    ("train: {epochs: 2.5}", r"train\.epochs = 2\.5: must be an integer"),
    ("train: {nesterov: 'yes'}", r"train\.nesterov = 'yes': must be true or false"),
    ("model: {hidden: [128, big]}", r"model\.hidden\[1\] = 'big': must be an integer"),
    ("model: cnn", r"model = 'cnn': must be a mapping"),
    # out of range: what is allowed
    ("model: {dropout: 1.0}", r"model\.dropout = 1\.0: must be >= 0 and < 1"),
    ("model: {dropout: -0.1}", r"model\.dropout = -0\.1: must be >= 0 and < 1"),
    ("train: {lr: 0}", r"train\.lr = 0\.0: must be > 0"),
    ("model: {hidden: [128, 0]}", r"model\.hidden\[1\] = 0: must be >= 1"),
    ("train: {batch_size: -5}", r"train\.batch_size = -5: must be >= 1"),
    ("train: {optimizer: adamw}", r"train\.optimizer = 'adamw': must be one of 'sgd', 'momentum', 'adam', 'rmsprop', 'adagrad'"),
    ("model: {family: resnet}", r"model\.family = 'resnet': must be one of 'softmax', 'mlp', 'cnn'"),
    ("train: {schedule: {kind: exponential}}", r"exponential decay needs decay_steps or decay_epochs"),
    ("logging: {profile_steps: [20, 10]}", r"profile_steps = \[20, 10\]: must be \[start, stop\]"),
])
def test_wrong_types_and_out_of_range_values_are_named_with_what_is_allowed(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        config.load(write(tmp_path, text))


def test_all_problems_are_reported_at_once(tmp_path):
    with pytest.raises(ConfigError) as err:
        config.load(write(tmp_path, "model: {dropout: 2, activaton: relu}\ntrain: {lr: -1}\n"))
    assert len(err.value.problems) == 3


def test_overrides_are_parsed_as_yaml_and_validated(tmp_path):
    path = write(tmp_path, "train: {lr: 0.1}\n")
    cfg = config.load(path, ["train.lr=0.01", "model.hidden=[64, 32]", "train.schedule.kind=exponential",
                             "train.schedule.decay_epochs=1"])
    assert cfg.train.lr == 0.01 and cfg.model.hidden == (64, 32) and cfg.train.schedule.kind == "exponential"
    with pytest.raises(ConfigError, match=r"train\.lrr: unknown key; did you mean 'lr'"):
        config.load(path, ["train.lrr=0.1"])
    with pytest.raises(ConfigError, match="expected key.path=value"):
        config.load(path, ["train.lr"])


def test_every_tutorial_knob_is_expressible():
    cfg = config.from_dict({
        "data": {"scaling": "binary"},
        "model": {"family": "cnn", "conv_filters": [32, 64], "kernel_size": 5, "dense_units": 1024, "dropout": 0.5,
                  "kernel_init": "truncated_normal", "init_stddev": 0.1, "bias_init": 0.1, "l2": 1e-4},
        "train": {"optimizer": "momentum", "nesterov": True, "lr": 0.1, "ema": 0.99, "loss": "mse", "steps": 9000,
                  "schedule": {"kind": "exponential", "decay_rate": 0.99, "decay_epochs": 1, "staircase": True},
                  "early_stopping": {"patience": 3}, "deterministic": True, "seed": 7},
        "logging": {"profile_steps": [10, 20], "checkpoint_steps": 1000},
    })
    assert cfg.train.schedule.staircase and cfg.model.conv_filters == (32, 64)


def test_flatten_gives_dotted_scalar_keys():
    flat = config.flatten(config.to_dict(config.from_dict({"model": {"hidden": [256, 128]}})))
    assert flat["model.hidden"] == "256,128" and flat["train.schedule.kind"] == "constant"


def test_cli_exits_2_with_a_clear_message_and_no_traceback(tmp_path):
    path = write(tmp_path, "model: {dropout: 1.5}\n")
    out = subprocess.run([sys.executable, str(ROOT / "sweep.py"), str(path)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 2
    assert "model.dropout = 1.5: must be >= 0 and < 1" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "runs").exists()
