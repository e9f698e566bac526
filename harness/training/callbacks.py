"""Keras callbacks that keep training honest: EMA evaluation, NaN and step limits, history.

None of them writes TensorBoard summaries (summaries.SummaryLogger does). On
resume the checkpoint is restored before `fit`, so they see the restored
optimizer step and epoch.
"""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import keras

from harness.files import atomic_write_text
from harness.training.history_csv import parse_row



def global_step(model: keras.Model) -> int:
    return int(model.optimizer.iterations.numpy())


def initial_epoch(model: keras.Model) -> int:
    """The epoch fit starts at: 0, or the one checkpoint.Checkpointer restored."""
    return int(getattr(model, "_initial_epoch", None) or 0)


class EmaEvaluation(keras.callbacks.Callback):
    """Validate with the moving-average weights, as the mlp-ema tutorial evaluates.

    Keras keeps the average in the optimizer and only swaps it in at the end of
    fit; this swaps it in for each validation pass and back out afterwards.
    """

    def on_test_begin(self, logs=None):
        opt = self.model.optimizer
        self._saved = [v.numpy() for v in self.model.trainable_variables]
        for var, avg in zip(self.model.trainable_variables, opt._model_variables_moving_average):
            var.assign(avg)

    def on_test_end(self, logs=None):
        for var, saved in zip(self.model.trainable_variables, self._saved):
            var.assign(saved)


class StepCounter(keras.callbacks.Callback):
    """Knows the optimizer step at each batch end without asking the device for it every step.

    The step is the epoch's first plus the batches done: with `steps_per_execution`,
    Keras calls the batch hooks once per execution with the index of its last batch,
    so counting calls would miscount.
    """

    def on_train_begin(self, logs=None):
        self._step = self._epoch_step = global_step(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_step = global_step(self.model)

    def on_train_batch_end(self, batch, logs=None):
        self._step = self._epoch_step + batch + 1


class TrainingGuard(StepCounter):
    """Stop on a non-finite loss (the trial diverged) or at an exact step budget."""

    def __init__(self, max_steps: int | None = None):
        super().__init__()
        self.max_steps = max_steps
        self.diverged_at: int | None = None

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.diverged_at = self._step
            self.model.stop_training = True
        elif self.max_steps and self._step >= self.max_steps:
            self.model.stop_training = True


class Interruption(keras.callbacks.Callback):
    """Ctrl-C, raised as KeyboardInterrupt only here: between batches, where TensorFlow is not in the middle of anything.

    Raised wherever the signal lands (Python's default SIGINT handler), it can stop TensorFlow
    half-way: in a tf.function's tracing, a graph pushed on the default-graph stack but not yet
    in the try that pops it, or a C++ callback half done. The interrupt then comes out of `fit`
    as "AssertionError: Nesting violated for default stack of FuncGraph objects", a SystemError
    or a TypeError, and its trial is recorded failed (finished, never resumed) instead of pending.
    A training worker's SIGINT handler is `request`, which only notes it (harness.sweep.local).
    """

    requested = False

    @classmethod
    def request(cls, signum=None, frame=None) -> None:
        cls.requested = True

    @classmethod
    def check(cls) -> None:
        if cls.requested:
            cls.requested = False
            raise KeyboardInterrupt

    def on_train_batch_begin(self, batch, logs=None):
        self.check()

    def on_train_batch_end(self, batch, logs=None):
        self.check()

    def on_test_batch_end(self, batch, logs=None):
        self.check()

    def on_epoch_end(self, epoch, logs=None):
        self.check()


class EpochReport(keras.callbacks.Callback):
    """Tell the sweep each epoch's results; stop training when it answers so (pruning)."""

    def __init__(self, on_epoch):
        super().__init__()
        self.on_epoch = on_epoch
        self.stopped_at: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        stop = self.on_epoch(epoch + 1, {k: float(v) for k, v in (logs or {}).items()})
        Interruption.check()  # Ctrl-C while the sweep answered: its "stop" is the interrupt's, not a pruner's
        if stop:
            self.stopped_at = epoch + 1
            self.model.stop_training = True


class EpochHistory(keras.callbacks.Callback):
    """One row per epoch (losses, accuracies, lr, timings), kept as CSV beside the trial.

    On resume the rows of the epochs already done are read back, so the
    history and the best validation epoch cover the whole trial.
    """

    COLUMNS = ["epoch", "step", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate",
               "epoch_seconds", "train_seconds", "examples_per_second"]

    def __init__(self, path: Path, n_train: int, batch_size: int):
        super().__init__()
        self.path = Path(path)
        self.n_train = n_train
        self.batch_size = batch_size
        self.rows: list[dict] = []
        self.start_epoch = 0
        self.share = 1.0  # of the time measured: a fused group's members split its epochs (fusion/loop.py)

    def on_train_begin(self, logs=None):
        start = self.start_epoch = initial_epoch(self.model)
        if start and self.path.exists():
            with self.path.open() as f:
                self.rows = [parse_row(r) for r in csv.DictReader(f) if int(r["epoch"]) <= start]
        else:
            self.rows = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()
        self._t_train = None
        self._step0 = global_step(self.model)

    def on_test_begin(self, logs=None):
        # Within fit, validation starts when the epoch's training is done.
        if self._t_train is None:
            self._t_train = time.perf_counter() - self._t0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        elapsed = (time.perf_counter() - self._t0) * self.share
        train_seconds = self._t_train * self.share if self._t_train is not None else elapsed
        step = global_step(self.model)
        examples = min(self.n_train, (step - self._step0) * self.batch_size)
        self.rows.append({
            "epoch": epoch + 1,
            "step": step,
            "loss": logs.get("loss"),
            "accuracy": logs.get("accuracy"),
            "val_loss": logs.get("val_loss"),
            "val_accuracy": logs.get("val_accuracy"),
            "learning_rate": current_lr(self.model),
            "epoch_seconds": elapsed,
            "train_seconds": train_seconds,
            "examples_per_second": examples / train_seconds if train_seconds > 0 else None,
        })
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.COLUMNS)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buf.getvalue())

    def best(self) -> tuple[float | None, int | None]:
        """(best validation accuracy, its epoch), or (None, None) before any epoch."""
        scored = [r for r in self.rows if r["val_accuracy"] is not None]
        if not scored:
            return None, None
        top = max(scored, key=lambda r: r["val_accuracy"])
        return top["val_accuracy"], top["epoch"]


def current_lr(model: keras.Model) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
