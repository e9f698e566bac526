"""One real trial per model family, read back with TensorBoard's own reader."""

import dataclasses
import json
import subprocess
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.util import tensor_util
from tensorboard.plugins.hparams import metadata as hp_metadata
from tensorboard.plugins.hparams import plugin_data_pb2

import harness.training.models  # noqa: F401  (registers the custom layer for loading)
from harness.training.trial import run_trial
from harness.config.plan import TrialSpec
from harness.layout import Workspace


def read_events(log_dir):
    acc = ea.EventAccumulator(str(log_dir), size_guidance={ea.TENSORS: 0, ea.IMAGES: 0})
    acc.Reload()
    return acc


def plugin_data(acc, tag):
    content = acc.SummaryMetadata(tag).plugin_data.content
    return plugin_data_pb2.HParamsPluginData.FromString(content)


FAMILIES = {
    "softmax": {"model": {"family": "softmax"}},
    "mlp": {"model": {"family": "mlp", "hidden": [64, 32], "dropout": 0.2}},
    "cnn": {"model": {"family": "cnn", "conv_filters": [4, 8], "kernel_size": 3, "dense_units": 32, "dropout": 0.5},
            "data": {"limit": 600, "test_limit": 200}},
}
LAYERS = {"softmax": ["logits"], "mlp": ["hidden1", "hidden2", "logits"], "cnn": ["conv1", "conv2", "fc", "logits"]}


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_trains_and_logs_everything(family, tiny_config, mnist, tmp_path):
    cfg = tiny_config(**FAMILIES[family])
    record = run_trial(TrialSpec("t", "t", {"model.family": family}, 0, cfg),
                       Workspace(tmp_path / "runs", tmp_path / "eventlog"), mnist)
    assert record.status == "ok", record.traceback
    assert 0.1 < record.test_accuracy <= 1 and record.params > 0 and record.epochs_run == 1

    acc = read_events(tmp_path / "eventlog" / "tiny" / "t")
    tensors = set(acc.Tags()["tensors"])
    for tag in ["curves/loss_train", "curves/accuracy_train", "curves/loss_val", "curves/accuracy_val",
                "steps/loss", "schedule/learning_rate", "run_time/seconds_per_epoch", "run_time/examples_per_second",
                "test/accuracy", "test/loss", "selection/best_val_accuracy", "config", "architecture",
                "test_digits/confusion_matrix", "test_digits/misclassified"]:
        assert tag in tensors, tag
    for layer in LAYERS[family]:
        for kind in ["weights", "biases", "preactivations"]:
            assert f"z_layers/{layer}/{kind}" in tensors and f"z_layers/{layer}/{kind}/stddev" in tensors, (layer, kind)
        if layer != "logits":
            assert f"z_layers/{layer}/activations" in tensors and f"z_layers/{layer}/activations/max" in tensors
    assert acc.Tags()["graph"]
    # Values read back equal the record.
    test_acc = acc.Tensors("test/accuracy")[-1]
    assert float(tensor_util.make_ndarray(test_acc.tensor_proto)) == pytest.approx(record.test_accuracy, rel=1e-6)
    assert acc.Tensors("steps/loss")[0].step == 5
    start = plugin_data(acc, hp_metadata.SESSION_START_INFO_TAG).session_start_info
    assert start.hparams["model.family"].string_value == family
    assert start.group_name == "t (tiny)"  # the setting first, then its sweep: two sweeps' groups never mix
    assert start.hparams["sweep"].string_value == "tiny"
    end = plugin_data(acc, hp_metadata.SESSION_END_INFO_TAG).session_end_info
    assert end.status == 1  # STATUS_SUCCESS
    image = acc.Tensors("test_digits/confusion_matrix")[0]
    assert len(image.tensor_proto.string_val[2]) > 5000  # a real PNG, not an empty frame


def test_artifacts_describe_the_trial(tiny_config, mnist, tmp_path):
    cfg = tiny_config(train={"epochs": 2, "ema": 0.9}, logging={"histograms_every": 0, "images": False})
    record = run_trial(TrialSpec.single(cfg), Workspace(tmp_path, tmp_path / "ev"), mnist)
    run_dir = tmp_path / "tiny" / "t"
    saved = json.loads((run_dir / "trial.json").read_text())
    assert saved == dataclasses.asdict(record)  # the record on disk is the one returned
    assert saved["status"] == "ok" and saved["attempts"] == 1 and saved["seed"] == 0 and saved["error"] is None
    assert saved["params"] == 784 * 128 + 128 + 128 * 10 + 10  # the default 784-128-10 MLP
    assert saved["versions"]["tensorflow"].startswith("2.21") and saved["versions"]["keras"].startswith("3.")
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent)
    assert saved["git_commit"] == (head.stdout.strip() or None)
    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [1, 2] and history["val_accuracy"].notna().all()
    assert saved["best_val_accuracy"] == pytest.approx(history["val_accuracy"].max())
    assert saved["best_epoch"] == int(history.loc[history["val_accuracy"].idxmax(), "epoch"])
    assert saved["epochs_run"] == 2 and saved["steps"] == int(history["step"].iloc[-1]) == 20
    assert saved["train_seconds"] == pytest.approx(history["epoch_seconds"].sum())
    assert 0 < saved["eval_seconds"] < saved["train_seconds"] and saved["started"] <= saved["ended"]
    assert "train:" in (run_dir / "config.yaml").read_text()
    assert not (run_dir / "checkpoint").exists()  # removed once the trial finished
    # The saved model carries the EMA weights and predicts like the trial evaluated.
    model = keras.saving.load_model(run_dir / "model.keras")
    logits = model.predict(mnist.x_test[:300], verbose=0)
    assert np.mean(logits.argmax(1) == mnist.y_test[:300]) == pytest.approx(record.test_accuracy)


def test_finished_trial_is_not_trained_again(tiny_config, mnist, tmp_path):
    cfg = tiny_config(logging={"histograms_every": 0, "images": False})
    first = run_trial(TrialSpec.single(cfg), Workspace(tmp_path, tmp_path / "ev"), mnist)
    again = run_trial(TrialSpec.single(cfg), Workspace(tmp_path, tmp_path / "ev"), mnist)
    assert again == first and again.attempts == 1


def test_nan_loss_is_recorded_as_diverged(tiny_config, mnist, tmp_path):
    cfg = tiny_config(train={"optimizer": "sgd", "lr": 1e12}, logging={"images": False})
    record = run_trial(TrialSpec.single(cfg), Workspace(tmp_path, tmp_path / "ev"), mnist)
    assert record.status == "diverged" and "NaN" in record.error and record.test_accuracy is None
    end = plugin_data(read_events(tmp_path / "ev" / "tiny" / "t"), hp_metadata.SESSION_END_INFO_TAG)
    assert end.session_end_info.status == 2  # STATUS_FAILURE


def test_an_exception_is_recorded_as_failed_not_raised(tiny_config, tmp_path, monkeypatch):
    bad_cache = tmp_path / "broken.npz"
    bad_cache.write_bytes(b"not an npz file")
    monkeypatch.setenv("MNIST_HARNESS_CACHE", str(bad_cache))
    record = run_trial(TrialSpec.single(tiny_config()), Workspace(tmp_path, tmp_path / "ev"))
    assert record.status == "failed" and "DataError" in record.error and "unreadable" in record.error
    assert "Traceback" in record.traceback


def test_steps_schedule_and_mse_loss(tiny_config, mnist, tmp_path):
    cfg = tiny_config(train={"steps": 13, "optimizer": "sgd", "lr": 0.5, "loss": "mse",
                             "schedule": {"kind": "exponential", "decay_steps": 5, "decay_rate": 0.5, "staircase": True}},
                      data={"scaling": "binary"}, logging={"images": False, "histograms_every": 0})
    record = run_trial(TrialSpec.single(cfg), Workspace(tmp_path, tmp_path / "ev"), mnist)
    assert record.status == "ok" and record.steps == 13 and record.epochs_run == 2
    history = pd.read_csv(tmp_path / "tiny" / "t" / "history.csv")
    assert history["learning_rate"].iloc[-1] == pytest.approx(0.5 * 0.5 ** 2)  # 13 steps: two whole periods


def test_profiler_trace_for_a_step_range(tiny_config, mnist, tmp_path):
    cfg = tiny_config(logging={"profile_steps": [2, 4], "images": False, "histograms_every": 0})
    record = run_trial(TrialSpec.single(cfg), Workspace(tmp_path, tmp_path / "ev"), mnist)
    assert record.status == "ok", record.traceback
    traces = list((tmp_path / "ev" / "tiny" / "t" / "plugins" / "profile").rglob("*.xplane.pb"))
    assert traces and traces[0].stat().st_size > 1000
