"""The training side of a sweep's worker: TensorFlow set up once, then one trial after another.

Both executors run trials through `train`: a local worker process in the
sweep's own workspace (runs/ and eventlog/), a Ray task in a temporary copy.
"""

from __future__ import annotations

import contextlib
import gc
import os
from typing import Callable

from harness.config.plan import TrialSpec
from harness.files import file_lock
from harness.layout import Workspace
from harness.record import TrialRecord
from harness.training.fusion.packing import Unit, members


def configure_tensorflow(threads: int) -> None:
    """Before the process's first trial: TensorFlow's thread pools, quiet logs, libraries imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    gc.disable()  # see _import_and_freeze
    try:
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # retracing notices: each trial builds a new model on purpose
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
        except RuntimeError:  # TensorFlow already ran in this process (not the harness's doing): keep its pools
            pass
        _import_and_freeze()
    finally:
        gc.enable()


_FROZEN = False


def _import_and_freeze() -> None:
    """Import what trials use, with the garbage collector off, then exempt those ~370,000 objects from it.

    Measured: with the collector on, importing TensorFlow and Keras runs several full
    collections over their own new objects (2.8 s of CPU in all, against 1.9 s off,
    plus 0.3 s for the one collection below); and each trial's
    keras.backend.clear_session() collected over all of them again (0.3-0.7 s a
    trial), against 0.02-0.1 s once they are frozen.
    """
    global _FROZEN
    if _FROZEN:
        return
    import harness.training.trial  # noqa: F401  (TensorFlow, Keras, TensorBoard, Pillow)

    gc.collect()  # the imports' own garbage, once, so that none of it is frozen
    gc.freeze()
    _FROZEN = True


def worker_mnist(dataset: str = "mnist"):
    """The trials' dataset, loaded once per worker process and shared by its trials."""
    from harness.training import data

    return data.loaded(dataset)


def train(unit: Unit, workspace: Workspace,
          on_epoch: Callable[[str], Callable[[int, dict], bool]] = lambda trial_id: None) -> list[TrialRecord]:
    """Train a planned trial, or a fused group of them (fusion.packing.Group), under their locks (see run_trial
    and fusion.trials.run_group), then free Keras' global state; their records, in order.

    `on_epoch(trial_id)` is the epoch callback of a trial, given to it only when `spec.prunable`:
    its verdict may stop the trial after an epoch."""
    import keras

    from harness.training.fusion.trials import run_group
    from harness.training.trial import run_trial

    specs = members(unit)
    try:
        with contextlib.ExitStack() as locks:
            for spec in specs:
                locks.enter_context(file_lock(workspace.trial(spec.config.name, spec.trial_id).lock))
            mnist = worker_mnist(specs[0].config.data.dataset)  # (a fused group's members share it: rule.py)
            if len(specs) == 1:
                return [run_trial(specs[0], workspace, mnist, _reporter(specs[0], on_epoch))]
            return run_group(list(specs), workspace, mnist, lambda spec: _reporter(spec, on_epoch))
    finally:
        keras.backend.clear_session()


def _reporter(spec: TrialSpec, on_epoch):
    return on_epoch(spec.trial_id) if spec.prunable else None
