"""logging.keep_model: which model file a finished trial keeps, and that it loads and predicts."""

import zipfile

import keras
import numpy as np
import pytest

from harness.config.schema import ConfigError
from harness.serving.predict import load_trial_model
from harness.training import keep, models
from harness.training.callbacks import EpochHistory
from harness.training.trial import run_trial
from harness.config.plan import TrialSpec
from harness.layout import Workspace

FILES = {"final": {"model.keras"}, "best": {"model.keras"}, "weights": {"model.weights.h5"}, "none": set()}


def accuracy(model, mnist, n=300):
    return float(np.mean(model.predict(mnist.x_test[:n], verbose=0).argmax(1) == mnist.y_test[:n]))


@pytest.mark.parametrize("choice", FILES)
def test_each_choice_keeps_its_files_and_no_checkpoint(choice, tiny_config, mnist, tmp_path):
    cfg = tiny_config(train={"epochs": 2}, logging={"keep_model": choice, "histograms_every": 0, "images": False})
    record = run_trial(TrialSpec.single(cfg), Workspace(tmp_path, tmp_path / "ev"), mnist)
    assert record.status == "ok", record.traceback
    run_dir = tmp_path / "tiny" / "t"
    kept = {p.name for p in run_dir.iterdir() if p.name.startswith("model")}
    assert kept == FILES[choice]
    assert not (run_dir / "checkpoint").exists() and not list(run_dir.glob(".*.tmp"))
    if choice == "none":
        with pytest.raises(FileNotFoundError, match="keep_model"):
            load_trial_model(run_dir)
    else:  # what predict and serve load answers like the trial was tested
        model, info = load_trial_model(run_dir)
        assert accuracy(model, mnist) == pytest.approx(record.test_accuracy) and info["status"] == "ok"


def test_the_default_keeps_a_loadable_model_without_optimizer_state(tiny_config, mnist, tmp_path):
    cfg = tiny_config(logging={"histograms_every": 0, "images": False})
    assert cfg.logging.keep_model == "final"
    record = run_trial(TrialSpec.single(cfg), Workspace(tmp_path, tmp_path / "ev"), mnist)
    path = tmp_path / "tiny" / "t" / "model.keras"
    model = keras.saving.load_model(path)  # the plain Keras loader, as a user would
    assert getattr(model, "optimizer", None) is None and accuracy(model, mnist) == pytest.approx(record.test_accuracy)
    with zipfile.ZipFile(path) as z:
        assert "optimizer" not in z.read("config.json").decode()
    weights = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    assert path.stat().st_size < 1.1 * weights + 50_000  # weights and config only


def _stamp(path):
    return (path.stat().st_ino, path.stat().st_mtime_ns) if path.exists() else None


def test_best_saves_only_when_validation_accuracy_improves(tmp_path, tiny_config):
    model = models.build(tiny_config().model)
    history = EpochHistory(tmp_path / "history.csv", 1000, 100)
    best = keep.KeepBest(tmp_path / "model.keras", history)
    best.set_model(model)
    for epoch, val in enumerate([0.80, 0.90, 0.85, 0.90], start=1):
        history.rows.append({"epoch": epoch, "val_accuracy": val})
        before = _stamp(best.path)
        model.layers[-1].bias.assign(np.full(10, float(epoch), dtype="float32"))
        best.on_epoch_end(epoch - 1)
        assert (_stamp(best.path) != before) == (val in (0.80, 0.90) and epoch <= 2), epoch
    saved = keras.saving.load_model(best.path, compile=False)
    assert saved.layers[-1].bias.numpy()[0] == 2.0  # the weights of epoch 2, the first 0.90


def test_keep_model_is_validated(tiny_config):
    with pytest.raises(ConfigError, match=r"logging.keep_model.*'all'.*final"):
        tiny_config(logging={"keep_model": "all"})
    with pytest.raises(ConfigError, match="keep_model = 'best' with train.ema"):
        tiny_config(logging={"keep_model": "best"}, train={"ema": 0.99})


def test_best_puts_the_saved_weights_back_before_the_test(tmp_path, tiny_config):
    from harness.layout import TrialPaths

    paths = TrialPaths(tmp_path, tmp_path / "ev")
    model = models.build(tiny_config().model)
    best = [w.copy() for w in model.get_weights()]
    keep.save_model(model, paths.model)
    model.set_weights([w + 1.0 for w in best])  # later epochs moved on
    keep.before_test(model, "final", paths)
    assert not np.allclose(model.get_weights()[-1], best[-1])  # only `best` restores
    keep.before_test(model, "best", paths)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), best))
