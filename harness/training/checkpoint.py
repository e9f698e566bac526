"""Crash-safe resume state for a trial: a kill at any instant leaves a whole checkpoint.

Each checkpoint (every variable of the model and its optimizer, in order, as
one .npz, and a small state.json: epochs done, optimizer step, size and CRC of
the weights) is written into a
fresh temporary directory beside the others, fsynced, then renamed to the next
numbered name; only then is the one before the previous one removed. A
numbered directory is therefore always complete, and the last good one stays
until a newer one is. Keras' BackupAndRestore overwrites its single file in
place, so a kill during the write left a torn checkpoint and a failed trial.

`restore` tries the newest checkpoint, then the older one, then starts over,
warning (stderr and the returned notes) each time it falls back: a torn or
unreadable checkpoint costs some steps, never the trial.

As with BackupAndRestore, a checkpoint taken inside an epoch resumes at the
start of that epoch, with the weights and optimizer step of the moment it was
taken; each epoch's end is checkpointed too (after the epoch's history row is
written, so history.csv always covers the epochs a checkpoint claims).

The variables are written as plain arrays, not with `save_weights`: Keras walks
its object graph for every save (35-50 ms for 784-128-10 with Adam, measured;
the .npz takes 7 ms), and a trial saves at every epoch's end. A checkpoint of
the earlier format (LEGACY_CHECKPOINT_WEIGHTS, Keras' .h5) is still read.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from harness import layout
from harness.files import is_temporary, naming, read_json
from harness.training.callbacks import StepCounter


@dataclass
class Restored:
    """Where `restore` put the model: the epochs done, the step, and why it fell back, if it did."""

    epoch: int = 0
    step: int = 0
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)


class Checkpointer(StepCounter):
    """Saves every `every_steps` optimizer steps (0: never inside an epoch) and at each epoch's end.

    Call `restore(model)` before `fit`, and list this callback after the ones
    whose epoch-end files a checkpoint vouches for (EpochHistory).
    """

    def __init__(self, directory: Path, every_steps: int = 0):
        super().__init__()
        self.directory = Path(directory)
        self.every_steps = every_steps
        self._good: Path | None = None  # the last checkpoint known whole (written or restored)
        self._epochs_done = 0

    # --- restoring ----------------------------------------------------------------------

    def restore(self, model: keras.Model) -> Restored:
        """Load the newest readable checkpoint into `model` (sets the epoch `fit` starts at)."""
        out = Restored()
        candidates = checkpoints(self.directory)
        if candidates:
            if model.optimizer is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)  # its slots must exist to be loaded
            fresh = [v.numpy() for v in _variables(model)]
        for i, path in enumerate(candidates):
            try:
                state = _load(model, path)
            except Exception as e:  # any unreadable checkpoint: fall back, never fail the trial
                then = "the previous one" if i + 1 < len(candidates) else "the start"
                out.warnings.append(f"checkpoint {path} is unreadable ({type(e).__name__}: "
                                    f"{_one_line(e)}); resuming from {then} instead")
                print(f"warning: {out.warnings[-1]}", file=sys.stderr, flush=True)
                continue
            out.epoch, out.step, out.path = state["epoch"], state["step"], path
            break
        else:
            if candidates:  # a failed load may have assigned some variables
                for var, value in zip(_variables(model), fresh):
                    var.assign(value)
        model._initial_epoch = out.epoch or None  # what BackupAndRestore sets; fit starts there
        self._good, self._epochs_done = out.path, out.epoch
        return out

    # --- saving -------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._epochs_done = int(self.model._initial_epoch or 0)

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        last_of_epoch = batch + 1 == (self.params or {}).get("steps")  # on_epoch_end saves that one
        if self.every_steps and self._step % self.every_steps == 0 and not last_of_epoch:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        self._epochs_done = epoch + 1
        self.save()

    def save(self) -> Path:
        """Write a new whole checkpoint, then drop all but it and the previous good one."""
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".ckpt-", suffix=".tmp", dir=self.directory))
        try:
            weights = tmp / layout.CHECKPOINT_WEIGHTS
            with naming(self.directory):  # (not the temporary file's name)
                write_variables(self.model, weights)
            data = weights.read_bytes()
            state = {"epoch": self._epochs_done, "step": self._step, "weights_bytes": len(data),
                     "weights_crc32": zlib.crc32(data)}
            (tmp / layout.CHECKPOINT_STATE).write_text(json.dumps(state))
            for f in (weights, tmp / layout.CHECKPOINT_STATE, tmp):
                _fsync(f)
            numbers = [_number(p) for p in checkpoints(self.directory)]
            final = self.directory / f"{layout.CHECKPOINT_SLOT}{max(numbers, default=0) + 1:06d}"
            os.rename(tmp, final)
        except BaseException:  # Ctrl-C mid-write: no half checkpoint left behind (kill -9: the next save)
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _fsync(self.directory)
        keep = {final, self._good}
        for old in self.directory.iterdir():
            if old not in keep:
                _remove(old)
        self._good = final
        return final


def checkpoints(directory: Path) -> list[Path]:
    """The complete checkpoints in `directory`, newest first (temporary ones are never listed)."""
    if not Path(directory).is_dir():
        return []
    found = [p for p in Path(directory).iterdir() if _number(p) is not None]
    return sorted(found, key=_number, reverse=True)


def remove_all(directory: Path) -> None:
    """Drop a finished trial's resume state."""
    shutil.rmtree(directory, ignore_errors=True)


def write_variables(model: keras.Model, path: Path) -> None:
    """Every variable of `model` and its optimizer, in `_variables` order, as one uncompressed .npz."""
    with open(path, "wb") as f:
        np.savez(f, *[v.numpy() for v in _variables(model)])


def read_variables(model: keras.Model, path: Path) -> None:
    """Assign what `write_variables` wrote; ValueError, assigning nothing, if it is another model's."""
    with np.load(path, allow_pickle=False) as saved:
        values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    variables = _variables(model)
    shapes = [tuple(v.shape) for v in variables]
    if [tuple(a.shape) for a in values] != shapes:
        raise ValueError(f"{path.name} holds {len(values)} arrays of other shapes than this model's {len(shapes)} "
                         "variables (another model's checkpoint)")
    for var, value in zip(variables, values):
        var.assign(value)


def _load(model: keras.Model, path: Path) -> dict:
    state = read_json(path / layout.CHECKPOINT_STATE)
    weights, legacy = path / layout.CHECKPOINT_WEIGHTS, path / layout.LEGACY_CHECKPOINT_WEIGHTS
    if not weights.exists() and legacy.exists():
        weights = legacy
    data = weights.read_bytes()
    crc = zlib.crc32(data)
    if (len(data), crc) != (state["weights_bytes"], state["weights_crc32"]):
        raise ValueError(f"{weights.name} has {len(data)} bytes, crc32 {crc:08x}; "
                         f"{state['weights_bytes']} bytes, crc32 {state['weights_crc32']:08x} were written")
    if weights == legacy:
        model.load_weights(weights)
    else:
        read_variables(model, weights)
    return {"epoch": int(state["epoch"]), "step": int(state["step"])}


def _variables(model: keras.Model) -> list:
    return list(model.variables) + (list(model.optimizer.variables) if model.optimizer is not None else [])


def _number(path: Path) -> int | None:
    name, prefix = path.name, layout.CHECKPOINT_SLOT
    if is_temporary(name) or not name.startswith(prefix) or not name[len(prefix):].isdigit():
        return None
    return int(name[len(prefix):])


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    """Rename out of the numbered names first, so a kill mid-delete leaves no half checkpoint."""
    if not path.is_dir():
        path.unlink(missing_ok=True)
        return
    if not is_temporary(path.name):
        doomed = path.with_name(f".{path.name}.old.tmp")
        shutil.rmtree(doomed, ignore_errors=True)
        os.rename(path, doomed)
        path = doomed
    shutil.rmtree(path, ignore_errors=True)


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:300]
