"""One trial: train one config, log it to TensorBoard, keep its artifacts, record the outcome.

`run_trial` never raises for a trial's own failure: a NaN loss is recorded as
`diverged`, any other exception as `failed` with its message and traceback,
and the caller (a sweep, possibly in another process) goes on. A trial that
was interrupted resumes from its last checkpoint when run again; a finished
one is returned as recorded, without training.

Layout, for experiment E and trial T:
    eventlog/E/T/   TensorBoard events (scalars, histograms, images, text, hparams)
    runs/E/T/       config.yaml, trial.json, history.csv, model.keras (see keep.py), checkpoint/
"""

from __future__ import annotations

import functools
import platform
import subprocess
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from harness.files import atomic_write_text
from harness.config import schema as config_mod
from harness.training import cost
from harness.training import data as data_mod
from harness.training import keep
from harness.training import models
from harness.training import optim
from harness.training import order
from harness.training import summaries
from harness.training.callbacks import (EmaEvaluation, EpochHistory, EpochReport, Interruption, TrainingGuard,
                                        global_step, initial_epoch)
from harness.training.checkpoint import Checkpointer, remove_all
from harness.config.plan import TrialSpec
from harness.config.schema import ExperimentConfig
from harness import hparams
from harness.layout import TrialPaths, Workspace
from harness.record import DIVERGED, FAILED, OK, PENDING, PRUNED, RUNNING, TrialRecord, utc_now

PROBE_SIZE = 256  # validation images whose activations are histogrammed


@functools.lru_cache(maxsize=None)  # once per process: the code a worker runs is the code it imported
def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _versions() -> dict[str, str]:
    import tensorboard

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "tensorboard": tensorboard.__version__}


def _take_history(record: TrialRecord, history: EpochHistory) -> None:
    """Epochs, timings and the best validation epoch, over every attempt of the trial."""
    rows = history.rows
    record.epochs_run, record.resumed_from_epoch = len(rows), history.start_epoch
    record.train_seconds = sum(r["epoch_seconds"] for r in rows)
    record.seconds_per_epoch = record.train_seconds / len(rows) if rows else None
    rates = [r["examples_per_second"] for r in rows if r["examples_per_second"]]
    record.examples_per_second = float(np.mean(rates)) if rates else None
    record.best_val_accuracy, record.best_epoch = history.best()


def _take_cost(trial: Trial) -> None:
    """What its steps cost, whichever group they were trained in (cost.py)."""
    cfg, record, split = trial.cfg, trial.record, trial.split
    per_step = cost.seconds_per_step(cfg, split.x_train, split.y_train, trial.paths.cost_calibration)
    record.cost_seconds = record.steps * per_step
    record.train_flops = (cost.examples_trained(record.steps, len(split.x_train), cfg.train.batch_size)
                          * cost.flops_per_example(trial.model))


@dataclass
class Trial:
    """One attempt at a trial: what `prepare` builds, `train` runs and `finish` and `close` record."""

    spec: TrialSpec
    paths: TrialPaths
    record: TrialRecord
    split: data_mod.Split | None = None
    model: keras.Model | None = None
    steps_per_epoch: int = 0
    writer: tf.summary.SummaryWriter | None = None
    checkpointer: Checkpointer | None = None
    history: EpochHistory | None = None
    guard: TrainingGuard | None = None
    report: EpochReport | None = None
    test_probs: np.ndarray | None = None  # softmax outputs on the test set, once tested

    @property
    def cfg(self) -> ExperimentConfig:
        return self.spec.config


def begin(spec: TrialSpec, workspace: Workspace) -> Trial | TrialRecord:
    """A new attempt at `spec` with its record (attempts counted, warnings kept), or the record of a
    trial that already finished (nothing to train)."""
    paths = workspace.trial(spec.config.name, spec.trial_id)
    previous = TrialRecord.load(paths.run_dir)
    if previous is not None and previous.finished:
        remove_all(paths.checkpoint)  # left by a kill between recording the trial and removing it
        return previous
    record = TrialRecord.of(spec)
    record.status, record.started, record.versions, record.git_commit = RUNNING, utc_now(), _versions(), _git_commit()
    record.attempts = (previous.attempts if previous else 0) + 1
    record.warnings = list(previous.warnings) if previous else []
    return Trial(spec, paths, record)


def prepare(trial: Trial, mnist: data_mod.Mnist | None = None) -> None:
    """Record the attempt, then build what training needs: config file, data, model, writer, and the
    state restored from the last checkpoint."""
    cfg, paths, record = trial.cfg, trial.paths, trial.record
    record.save(paths.run_dir)  # from here on, an interruption is recorded as such
    resolved = config_mod.trial_yaml(cfg)
    atomic_write_text(paths.config, resolved)
    if mnist is None or mnist.dataset != cfg.data.dataset:
        mnist = data_mod.loaded(cfg.data.dataset)
    trial.split = data_mod.split(mnist, cfg.data.validation, cfg.data.limit, cfg.data.test_limit)
    keras.utils.set_random_seed(cfg.train.seed)
    if cfg.train.deterministic:
        tf.config.experimental.enable_op_determinism()
    trial.model = models.build(cfg.model, cfg.data.scaling)
    trial.steps_per_epoch = optim.compile_model(trial.model, cfg.train, len(trial.split.x_train),
                                                optim.steps_per_execution(cfg, len(trial.split.x_train)))
    record.params = int(trial.model.count_params())
    trial.writer = tf.summary.create_file_writer(str(paths.log_dir))
    summaries.write_start(trial.writer, resolved, trial.model, hparams.session_hparams(cfg, record.settings),
                          hparams.session_group(cfg.name, record.group), cfg.description)
    trial.checkpointer = Checkpointer(paths.checkpoint, cfg.logging.checkpoint_steps)
    record.warnings += trial.checkpointer.restore(trial.model).warnings  # before the callbacks read the step
    trial.history = EpochHistory(paths.history, len(trial.split.x_train), cfg.train.batch_size)


def callbacks(trial: Trial, on_epoch: Callable[[int, dict], bool] | None) -> list[keras.callbacks.Callback]:
    """Training's callbacks, in the one order that works (Keras calls them in list order):

    0. Ctrl-C, taken at a batch's or an epoch's end, before anything records it (callbacks.Interruption);
    1. EMA evaluation: validation sees the averaged weights, so every later reader of the epoch does too;
    2. the guard: a NaN loss or the step budget stops training before the epoch is recorded as good;
    3. the history: the epoch's row, which keeping, reporting and summaries read;
    4. keeping the best model (from the history's row);
    5. the epoch report (a pruner's verdict may stop the trial here);
    6. TensorBoard summaries;
    7. early stopping;
    8. the checkpoint, last: an epoch's checkpoint follows its history row.
    """
    cfg, split = trial.cfg, trial.split
    trial.guard = TrainingGuard(cfg.train.steps)
    trial.report = EpochReport(on_epoch) if on_epoch else None
    stopping = cfg.train.early_stopping
    return [
        Interruption(),
        *([EmaEvaluation()] if cfg.train.ema else []),
        trial.guard,
        trial.history,
        *keep.callbacks(cfg.logging.keep_model, trial.paths, trial.history),
        *([trial.report] if trial.report else []),
        summaries.SummaryLogger(trial.writer, split.x_val[:PROBE_SIZE], cfg.logging.every_steps,
                                cfg.logging.histograms_every, cfg.logging.profile_steps,
                                str(trial.paths.log_dir), trial.history),
        *([keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=stopping.patience,
                                         min_delta=stopping.min_delta)] if stopping.patience else []),
        trial.checkpointer,
    ]


def train(trial: Trial, on_epoch: Callable[[int, dict], bool] | None = None) -> None:
    """Fit the model from where the checkpoint left it; `on_epoch(epoch, logs)` True stops it there."""
    cfg, split = trial.cfg, trial.split
    epochs = optim.epochs_to_run(cfg.train, trial.steps_per_epoch)
    batches = order.dataset(split.x_train, split.y_train, cfg.train.seed, cfg.train.batch_size,
                            initial_epoch(trial.model), epochs)
    trial.model.fit(batches, epochs=epochs, steps_per_epoch=trial.steps_per_epoch, batch_size=cfg.train.batch_size,
                    validation_data=(split.x_val, split.y_val), callbacks=callbacks(trial, on_epoch), verbose=0,
                    shuffle=False)


def finish(trial: Trial) -> None:
    """What training came to: diverged, pruned, or tested and kept (ok)."""
    cfg, record, model, split = trial.cfg, trial.record, trial.model, trial.split
    _take_history(record, trial.history)
    record.steps = global_step(model)
    _take_cost(trial)
    if trial.guard.diverged_at is not None:
        record.status, record.error = DIVERGED, f"loss became NaN or infinite at step {trial.guard.diverged_at}"
        return
    if trial.report and trial.report.stopped_at is not None:
        record.status = PRUNED
        return
    keep.before_test(model, cfg.logging.keep_model, trial.paths)
    t0 = time.perf_counter()
    logits = _logits(model, split.x_test)
    record.test_loss = float(np.mean(keras.ops.convert_to_numpy(model.loss(split.y_test, logits))))
    record.test_accuracy = float(np.mean(logits.argmax(axis=1) == split.y_test))
    record.eval_seconds = time.perf_counter() - t0
    keep.save(model, cfg.logging.keep_model, trial.paths)
    record.status = OK
    trial.test_probs = keras.ops.convert_to_numpy(keras.ops.softmax(logits))


def _logits(model: keras.Model, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    """The model's logits on `x`, eagerly batch by batch: `predict` would trace a function per trial
    (a second a trial when eight share a worker) to run ten batches."""
    return np.concatenate([keras.ops.convert_to_numpy(model(x[i:i + batch], training=False))
                           for i in range(0, len(x), batch)])


def close(trial: Trial) -> None:
    """However the attempt ended: the record's end, the run's last summaries, the files it no longer needs."""
    record, paths = trial.record, trial.paths
    record.ended = utc_now()
    if record.status in (DIVERGED, FAILED, PRUNED):  # nothing worth keeping
        keep.discard(paths)
    if trial.writer is not None:
        if record.status != PENDING:
            tested = trial.test_probs is not None
            summaries.write_end(trial.writer, record, trial.split.x_test if tested else None,
                                trial.split.y_test if tested else None, trial.test_probs, record.steps,
                                trial.cfg.logging.images)
        trial.writer.close()
    record.save(paths.run_dir)
    if record.finished:  # never resumed (--retry-failed starts over): after the record, so a kill
        remove_all(paths.checkpoint)  # in between loses no training


def run_trial(spec: TrialSpec, workspace: Workspace = Workspace(), mnist: data_mod.Mnist | None = None,
              on_epoch: Callable[[int, dict], bool] | None = None) -> TrialRecord:
    """Train `spec` and return its record (see the module docstring): begin, prepare, train, finish, close.

    `on_epoch(epoch, logs)` is called after every epoch; when it returns True
    the trial stops there and is recorded as `pruned` (a pruner gave up on it).
    """
    trial = begin(spec, workspace)
    if isinstance(trial, TrialRecord):
        return trial

    def attempt() -> None:
        prepare(trial, mnist)
        train(trial, on_epoch)
        finish(trial)
    recorded([trial], attempt)
    return trial.record


def recorded(trials: list[Trial], attempt: Callable[[], None]) -> None:
    """Run `attempt` at `trials` (one, or a fused group's): however it ends, each is recorded with its
    share of the CPU time, then closed. Ctrl-C leaves the unfinished ones pending (the next run
    resumes them; raised again); any other exception fails them, and is not propagated.

    A plain function, not a context manager: the failure's traceback (and the half-written files its
    frames hold open, whose space a full disk needs back for trial.json) is freed before `close`."""
    cpu = time.process_time()
    try:
        attempt()
    except KeyboardInterrupt:  # not a result: the next run resumes it from its checkpoint
        for r in (t.record for t in trials if t.record.status == RUNNING):
            r.status, r.test_accuracy, r.test_loss, r.eval_seconds = PENDING, None, None, None
        raise
    except Exception as e:  # a trial's failure is recorded, never propagated
        for r in (t.record for t in trials if t.record.status == RUNNING):
            _fail(r, e)
    finally:
        for t in trials:
            t.record.cpu_seconds = (time.process_time() - cpu) / len(trials)
            t.record.fused_size = len(trials)
            close(t)


def alone(trial: Trial, step: Callable, *args) -> bool:
    """`step(*args)`, a step that concerns `trial` alone (one member of a fused group); False when it failed.

    Its exception fails that trial only, recorded as `recorded` records it, and its group goes on
    without it; Ctrl-C is not caught (every member stays pending)."""
    try:
        step(*args)
    except Exception as e:  # the member's failure, never its group's
        _fail(trial.record, e)
        return False
    return True


def _fail(record: TrialRecord, e: Exception) -> None:
    """Record `e`, the exception being handled, as the trial's failure."""
    record.status, record.error, record.traceback = FAILED, f"{type(e).__name__}: {e}", traceback.format_exc()
