"""What a finished trial keeps of its model (`logging.keep_model`), so a sweep's disk use stays bounded.

    final    model.keras, the trained model without optimizer state (the default;
             `predict` and `serve` load it). Adam's two moments made up two thirds of
             a full save: a 784-512-10 MLP is 1.6 MB instead of 4.9 MB.
    best     model.keras, the weights of the epoch with the best validation accuracy
             (saved as it happens, so resume keeps it); the test set is evaluated with
             them, so the trial's test metrics describe the model kept.
    weights  model.weights.h5 only; the architecture is rebuilt from the trial's config.yaml.
    none     no model file.

A diverged or failed trial keeps none. Files are written into a temporary
directory beside the target and renamed into place: readers never see half a model.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import keras

from harness.config import schema
from harness.files import naming, os_problem
from harness.layout import CONFIG, MODEL, WEIGHTS, TrialPaths
from harness.quiet import drop_failed_h5_closes
from harness.training import models
from harness.training.callbacks import EpochHistory

FINAL, BEST, WEIGHTS_ONLY, NONE = "final", "best", "weights", "none"


def _atomic_save(path: Path, save) -> None:
    """`save(tmp_path)` into a temporary directory beside `path`, then rename it into place."""
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        drop_failed_h5_closes()
        with naming(path):  # (not the temporary file's name)
            save(tmp / path.name)
        os.replace(tmp / path.name, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_model(model: keras.Model, path: Path) -> None:
    """`model` as a .keras file without optimizer state: a fresh functional model over the same
    layers, never compiled, so only the architecture and the layers' weights are written."""
    inference = keras.Model(model.inputs, model.outputs, name=model.name)
    _atomic_save(path, inference.save)


class KeepBest(keras.callbacks.Callback):
    """Saves the model whenever an epoch's validation accuracy beats every earlier epoch of the trial.

    Listed after EpochHistory, whose rows (read back on resume) include the epoch just ended.
    """

    def __init__(self, path: Path, history: EpochHistory):
        super().__init__()
        self.path = Path(path)
        self.history = history

    def on_epoch_end(self, epoch, logs=None):
        *before, now = self.history.rows
        earlier = [r["val_accuracy"] for r in before if r["val_accuracy"] is not None]
        if now["val_accuracy"] is not None and (not earlier or now["val_accuracy"] > max(earlier)):
            save_model(self.model, self.path)


def callbacks(keep: str, paths: TrialPaths, history: EpochHistory) -> list[keras.callbacks.Callback]:
    """The callbacks `keep` needs during training (after EpochHistory in fit's list)."""
    return [KeepBest(paths.model, history)] if keep == BEST else []


def before_test(model: keras.Model, keep: str, paths: TrialPaths) -> None:
    """With `best`, put the best epoch's weights back, so the test set measures the model kept."""
    if keep == BEST and paths.model.exists():
        model.load_weights(paths.model)


def save(model: keras.Model, keep: str, paths: TrialPaths) -> None:
    """Write what `keep` asks for once the trial finished ok (`best` was written during training)."""
    if keep == FINAL or (keep == BEST and not paths.model.exists()):
        save_model(model, paths.model)
    elif keep == WEIGHTS_ONLY:
        _atomic_save(paths.weights, model.save_weights)


def discard(paths: TrialPaths) -> None:
    """No model for a trial that did not finish ok (a `best` save may exist from before it failed)."""
    for path in (paths.model, paths.weights):
        path.unlink(missing_ok=True)


def load(run_dir: Path) -> keras.Model:
    """A trial's kept model, uncompiled: model.keras, or config.yaml's architecture with model.weights.h5.

    FileNotFoundError when the trial kept neither; ValueError when what it kept is damaged (Keras
    calls any unreadable file "File not found": this says what is really wrong).
    """
    run_dir = Path(run_dir)
    for kept in (run_dir / MODEL, run_dir / WEIGHTS):
        if problem := _unreadable(kept):
            raise ValueError(f"{problem}: the trial's model cannot be loaded")
    if (run_dir / MODEL).is_file():
        if not zipfile.is_zipfile(run_dir / MODEL):
            raise ValueError(f"{run_dir / MODEL} is damaged: not a Keras model file (a .keras file is a zip archive)")
        return _damaged_as_value_error(run_dir / MODEL, lambda: keras.saving.load_model(run_dir / MODEL, compile=False))
    if (run_dir / WEIGHTS).is_file() and (run_dir / CONFIG).is_file():
        cfg = schema.from_dict(schema.read_yaml(run_dir / CONFIG), str(run_dir / CONFIG))
        model = models.build(cfg.model, cfg.data.scaling)
        _damaged_as_value_error(run_dir / WEIGHTS, lambda: model.load_weights(run_dir / WEIGHTS))
        return model
    raise FileNotFoundError(f"no {MODEL} or {WEIGHTS} in {run_dir} (only trials that finished ok keep a model, "
                            f"and only when logging.keep_model is not none)")


def _unreadable(path: Path) -> str | None:
    """Why `path`, which is there, cannot be opened as a file (a directory, a loop of links, no
    permission); None when it can, or is not there."""
    if not os.path.lexists(path):
        return None
    try:
        with open(path, "rb"):
            return None
    except OSError as e:
        return os_problem(e)


def _damaged_as_value_error(path: Path, load):
    try:
        return load()
    except Exception as e:  # a file that is not a (complete) model: Keras raises many kinds
        why = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ValueError(f"{path} is damaged: Keras cannot load it ({type(e).__name__}: {why:.200})") from None
