"""The training side of a sweep's worker: TensorFlow set up once, then one trial after another.

Both executors run trials through `train`: a local worker process on the
sweep's own runs/ and eventlog/, a Ray task in a temporary copy of them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from harness.config.plan import TrialSpec
from harness.files import file_lock
from harness.layout import TrialPaths
from harness.record import TrialRecord

_MNIST = None


def configure_tensorflow(threads: int) -> None:
    """Before the process's first trial: TensorFlow's thread pools and quiet logs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # retracing notices: each trial builds a new model on purpose
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    except RuntimeError:  # TensorFlow already ran in this process (not the harness's doing): keep its pools
        pass


def worker_mnist():
    """MNIST, loaded once per worker process and shared by its trials."""
    global _MNIST
    if _MNIST is None:
        from harness.training import data

        _MNIST = data.load()
    return _MNIST


def train(spec: TrialSpec, runs: Path, eventlog: Path,
          on_epoch: Callable[[int, dict], bool] | None = None) -> TrialRecord:
    """Train one planned trial under its lock (see run_trial), then free Keras' global state."""
    import keras

    from harness.training.trial import run_trial

    paths = TrialPaths.of(spec.config.name, spec.trial_id, runs, eventlog)
    try:
        with file_lock(paths.lock):
            return run_trial(spec.config, spec.trial_id, settings=spec.settings, repeat=spec.repeat,
                             group=spec.group, runs=Path(runs), eventlog=Path(eventlog), mnist=worker_mnist(),
                             on_epoch=on_epoch)
    finally:
        keras.backend.clear_session()
