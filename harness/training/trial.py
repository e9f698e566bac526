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
from typing import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from harness.files import atomic_write_text
from harness.config import schema as config_mod
from harness.training import data as data_mod
from harness.training import keep
from harness.training import models
from harness.training import optim
from harness.training import order
from harness.training import summaries
from harness.training.callbacks import EmaEvaluation, EpochHistory, EpochReport, TrainingGuard, global_step, initial_epoch
from harness.training.checkpoint import Checkpointer, remove_all
from harness.config.schema import ExperimentConfig
from harness import hparams
from harness.layout import TrialPaths
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


def run_trial(cfg: ExperimentConfig, trial_id: str, *, settings: dict | None = None, repeat: int = 0,
              group: str | None = None, runs: Path = Path("runs"), eventlog: Path = Path("eventlog"),
              mnist: data_mod.Mnist | None = None,
              on_epoch: Callable[[int, dict], bool] | None = None) -> TrialRecord:
    """Train `cfg` as trial `trial_id` and return its record (see the module docstring).

    `settings` are the swept values (dotted path -> value) and `group` the id
    the HParams dashboard groups repeats of one setting under. `on_epoch(epoch,
    logs)` is called after every epoch; when it returns True the trial stops
    there and is recorded as `pruned` (a search strategy gave up on it).
    """
    paths = TrialPaths.of(cfg.name, trial_id, runs, eventlog)
    previous = TrialRecord.load(paths.run_dir)
    if previous is not None and previous.finished:
        remove_all(paths.checkpoint)  # left by a kill between recording the trial and removing it
        return previous
    record = TrialRecord(trial_id=trial_id, experiment=cfg.name, status=RUNNING, group=group or trial_id,
                         settings=dict(settings or {}),
                         repeat=repeat, seed=cfg.train.seed, started=utc_now(),
                         attempts=(previous.attempts if previous else 0) + 1,
                         warnings=list(previous.warnings) if previous else [],
                         versions=_versions(), git_commit=_git_commit())
    writer = None
    end = {"x_test": None, "y_test": None, "probs": None, "step": 0}
    try:
        record.save(paths.run_dir)  # inside: an interruption from here on is recorded as such
        resolved = config_mod.trial_yaml(cfg)
        atomic_write_text(paths.config, resolved)
        split = data_mod.split(mnist or data_mod.load(), cfg.data.validation, cfg.data.limit, cfg.data.test_limit)
        keras.utils.set_random_seed(cfg.train.seed)
        if cfg.train.deterministic:
            tf.config.experimental.enable_op_determinism()
        model = models.build(cfg.model, cfg.data.scaling)
        steps_per_epoch = optim.compile_model(model, cfg.train, len(split.x_train),
                                              optim.steps_per_execution(cfg, len(split.x_train)))
        record.params = int(model.count_params())
        writer = tf.summary.create_file_writer(str(paths.log_dir))
        summaries.write_start(writer, resolved, model, hparams.session_hparams(cfg, record.settings),
                              hparams.session_group(cfg.name, record.group), cfg.description)
        checkpointer = Checkpointer(paths.checkpoint, cfg.logging.checkpoint_steps)
        record.warnings += checkpointer.restore(model).warnings  # before the callbacks read the step
        guard = TrainingGuard(cfg.train.steps)
        history = EpochHistory(paths.history, len(split.x_train), cfg.train.batch_size)
        report = EpochReport(on_epoch) if on_epoch else None
        callbacks = [
            *([EmaEvaluation()] if cfg.train.ema else []),
            guard,
            history,
            *keep.callbacks(cfg.logging.keep_model, paths, history),
            *([report] if report else []),
            summaries.SummaryLogger(writer, split.x_val[:PROBE_SIZE], cfg.logging.every_steps,
                                    cfg.logging.histograms_every, cfg.logging.profile_steps,
                                    str(paths.log_dir), history),
        ]
        if cfg.train.early_stopping.patience:
            callbacks.append(keras.callbacks.EarlyStopping(
                "val_accuracy", mode="max", patience=cfg.train.early_stopping.patience,
                min_delta=cfg.train.early_stopping.min_delta))
        callbacks.append(checkpointer)  # last: an epoch's checkpoint follows its history row
        epochs = optim.epochs_to_run(cfg.train, steps_per_epoch)
        batches = order.dataset(split.x_train, split.y_train, cfg.train.seed, cfg.train.batch_size,
                                initial_epoch(model), epochs)
        model.fit(batches, epochs=epochs, steps_per_epoch=steps_per_epoch, batch_size=cfg.train.batch_size,
                  validation_data=(split.x_val, split.y_val), callbacks=callbacks, verbose=0, shuffle=False)
        _take_history(record, history)
        record.steps = end["step"] = global_step(model)
        if guard.diverged_at is not None:
            record.status, record.error = DIVERGED, f"loss became NaN or infinite at step {guard.diverged_at}"
        elif report and report.stopped_at is not None:
            record.status = PRUNED
        else:
            keep.before_test(model, cfg.logging.keep_model, paths)
            t0 = time.perf_counter()
            logits = model.predict(split.x_test, batch_size=1000, verbose=0)
            record.test_loss = float(np.mean(keras.ops.convert_to_numpy(model.loss(split.y_test, logits))))
            record.test_accuracy = float(np.mean(logits.argmax(axis=1) == split.y_test))
            record.eval_seconds = time.perf_counter() - t0
            keep.save(model, cfg.logging.keep_model, paths)
            record.status = OK
            end.update(x_test=split.x_test, y_test=split.y_test,
                       probs=keras.ops.convert_to_numpy(keras.ops.softmax(logits)))
    except KeyboardInterrupt:
        # Not a result: the next run resumes it from its checkpoint.
        record.status, record.test_accuracy, record.test_loss, record.eval_seconds = PENDING, None, None, None
        raise
    except Exception as e:  # a trial's failure is recorded, never propagated
        record.status, record.error = FAILED, f"{type(e).__name__}: {e}"
        record.traceback = traceback.format_exc()
    finally:
        record.ended = utc_now()
        if record.status in (DIVERGED, FAILED, PRUNED):  # nothing worth keeping
            keep.discard(paths)
        if writer is not None and record.status != PENDING:
            summaries.write_end(writer, record, end["x_test"], end["y_test"], end["probs"], end["step"],
                                cfg.logging.images)
        if writer is not None:
            writer.close()
        record.save(paths.run_dir)
        if record.finished:  # never resumed (--retry-failed starts over): after the record, so a kill
            remove_all(paths.checkpoint)  # in between loses no training
    return record
