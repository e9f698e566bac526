"""Everything a trial shows in TensorBoard.

Only the driver writes summaries: `SummaryLogger` (a Keras callback) at step
and epoch boundaries, and the functions below once per trial. Model and
training step know nothing of files. All steps are optimizer steps, so the
per-step and per-epoch curves share one x-axis.
"""

from __future__ import annotations

import struct

import keras
import numpy as np
import tensorflow as tf
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.hparams import api as hp
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import summary as hparams_summary
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboard.util import tensor_util

from harness.metrics import (CURVES, EPOCH, EXAMPLES_PER_SECOND, FINAL, LAYERS, LEARNING_RATE, PRUNED_EPOCH,
                             SECONDS_PER_EPOCH, STEP_ACCURACY, STEP_LOSS, TEST_IMAGES)
from harness import datasets
from harness.record import OK, PRUNED
from harness.training import figures
from harness.training.callbacks import EpochHistory, StepCounter, current_lr
from harness.training.models import probed_layers

def stats_pb(tag: str, values: np.ndarray) -> list[summary_pb2.Summary.Value]:
    """A histogram plus mean/stddev/min/max scalars, as the TensorBoard tutorial logs them.

    Built in NumPy as protos and written in one op per epoch: hundreds of eager
    summary ops (or tracing them into a graph) would cost more than short epochs.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    finite = np.isfinite(v)
    if not finite.all():  # a diverging trial's NaNs: its status says so, the histogram shows the rest
        v = v[finite]
    if not v.size:
        return []
    lo, hi = v.min(), v.max()
    out = [histogram_value(tag, v, lo, hi)]
    for name, x in (("mean", v.mean()), ("stddev", v.std()), ("min", lo), ("max", hi)):
        out.extend(scalar_pb(f"{tag}/{name}", x).value)
    return out


def histogram_value(tag: str, v: np.ndarray, lo: float, hi: float, buckets: int = 30) -> summary_pb2.Summary.Value:
    """What tensorboard's `histogram_pb(tag, v, buckets)` writes, the same buckets counted with
    `np.bincount`: its one-hot matrix took 0.1 s for a 784x512 kernel, every epoch."""
    if hi == lo:
        edges = np.full(buckets + 1, lo)
        counts = np.zeros(buckets)
        counts[-1] = v.size
    else:
        width = (hi - lo) / buckets
        index = np.minimum(np.floor((v - lo) / width).astype(np.int64), buckets - 1)
        counts = np.bincount(index, minlength=buckets)
        edges = np.linspace(lo, hi, buckets + 1)
    table = np.stack([edges[:-1], edges[1:], counts]).T
    return summary_pb2.Summary.Value(tag=tag, metadata=histogram_metadata.create_summary_metadata(None, None),
                                     tensor=tensor_util.make_tensor_proto(table, dtype=np.float64))


class SummaryLogger(StepCounter):
    """Scalars every N steps and every epoch; histograms every N epochs; an optional profile."""

    def __init__(self, writer, probe_batch: np.ndarray, every_steps: int, histograms_every: int,
                 profile_steps: tuple[int, int] | None, logdir: str, history: EpochHistory):
        super().__init__()
        self.writer = writer
        self.probe_batch = probe_batch
        self.every_steps = every_steps
        self.histograms_every = histograms_every
        self.profile_steps = profile_steps
        self.logdir = logdir
        self.history = history  # its epoch timings, measured once, are logged here too
        self._profiling = False

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        probed = probed_layers(self.model)
        outputs = {}
        for name, layer, act in probed:
            outputs[f"{LAYERS}/{name}/preactivations"] = layer.output
            if act is not None:
                outputs[f"{LAYERS}/{name}/activations"] = act.output
        self._probe = keras.Model(self.model.input, outputs)
        self._weighted = [(name, layer) for name, layer, _ in probed]

    def on_train_batch_begin(self, batch, logs=None):
        if self.profile_steps and self._epoch_step + batch + 1 == self.profile_steps[0]:
            tf.profiler.experimental.start(self.logdir)
            self._profiling = True

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if self._profiling and self._step >= self.profile_steps[1]:
            self._stop_profiler()
        if self.every_steps and self._step % self.every_steps == 0 and logs:
            with self.writer.as_default(step=self._step):
                # Keras reports the running mean over the epoch so far.
                tf.summary.scalar(STEP_LOSS, logs["loss"])
                tf.summary.scalar(STEP_ACCURACY, logs["accuracy"])
                tf.summary.scalar(LEARNING_RATE, current_lr(self.model))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        timing = self.history.rows[-1]  # EpochHistory runs first, see trial.py
        with self.writer.as_default(step=self._step):
            for key, tag in CURVES.items():
                if key in logs:
                    tf.summary.scalar(tag, logs[key])
            tf.summary.scalar(LEARNING_RATE, timing["learning_rate"])
            tf.summary.scalar(EPOCH, epoch + 1)
            tf.summary.scalar(SECONDS_PER_EPOCH, timing["epoch_seconds"])
            if timing["examples_per_second"]:
                tf.summary.scalar(EXAMPLES_PER_SECOND, timing["examples_per_second"])
            if self.histograms_every and (epoch + 1) % self.histograms_every == 0:
                self._histograms()
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self._profiling:
            self._stop_profiler()

    def _histograms(self):
        values = []
        for name, layer in self._weighted:
            values += stats_pb(f"{LAYERS}/{name}/weights", layer.kernel.numpy())
            if layer.bias is not None:
                values += stats_pb(f"{LAYERS}/{name}/biases", layer.bias.numpy())
        for tag, value in self._probe(self.probe_batch, training=False).items():
            values += stats_pb(tag, keras.ops.convert_to_numpy(value))
        tf.summary.experimental.write_raw_pb(summary_pb2.Summary(value=values).SerializeToString(), step=self._step)

    def _stop_profiler(self):
        tf.profiler.experimental.stop()
        self._profiling = False


def write_start(writer, config_yaml: str, model: keras.Model, hparams: dict, group: str, description: str) -> None:
    """Once, at the start: the resolved config, the architecture, the graph and the hparams."""
    lines = []
    model.summary(print_fn=lambda line, *a, **k: lines.append(line))
    with writer.as_default(step=0):
        tf.summary.text("config", "```\n" + config_yaml + "\n```")
        tf.summary.text("architecture", "```\n" + "\n".join(lines) + "\n```")
        if description:
            tf.summary.text("description", description)
        hp.hparams(hparams, trial_id=group)
    _write_graph(writer, model)
    writer.flush()


def _write_graph(writer, model: keras.Model) -> None:
    """The forward pass as a TensorFlow graph, for TensorBoard's Graphs tab."""
    fn = tf.function(lambda x: model(x, training=False))
    graph = fn.get_concrete_function(tf.TensorSpec([None, 28, 28], tf.float32)).graph
    with writer.as_default():
        tf.summary.graph(graph)


def write_end(writer, record, x_test: np.ndarray | None, y_test: np.ndarray | None,
              probs: np.ndarray | None, step: int, images: bool) -> None:
    """Once, at the end: final metrics, confusion matrix, misclassified digits, session status."""
    with writer.as_default(step=step):
        for metric in FINAL.values():  # the HParams dashboard's metrics
            value = getattr(record, metric.name)
            if value is not None:
                tf.summary.scalar(metric.tag, value)
        if images and probs is not None:
            pred = probs.argmax(axis=1)
            classes = datasets.get(record.dataset).classes
            pngs = {f"{TEST_IMAGES}/confusion_matrix": figures.confusion_matrix(y_test, pred, classes),
                    f"{TEST_IMAGES}/misclassified": figures.misclassified_grid(x_test, y_test, probs, classes=classes)}
            tf.summary.experimental.write_raw_pb(
                summary_pb2.Summary(value=[image_value(t, png) for t, png in pngs.items()]).SerializeToString(),
                step=step)
        if record.status == PRUNED:  # stopped early by the pruner: told apart from finished and failed
            tf.summary.scalar(PRUNED_EPOCH.tag, record.epochs_run)
        status = {OK: api_pb2.STATUS_SUCCESS, PRUNED: api_pb2.STATUS_UNKNOWN}.get(record.status,
                                                                                api_pb2.STATUS_FAILURE)
        pb = hparams_summary.session_end_pb(status)
        tf.summary.experimental.write_raw_pb(pb.SerializeToString(), step=0)
    writer.flush()


def image_value(tag: str, png: bytes) -> summary_pb2.Summary.Value:
    """What `tf.summary.image` writes for one image, from PNG bytes as they are: decoding
    them into a tensor only for TensorFlow to encode them again took longer than drawing them."""
    width, height = struct.unpack(">II", png[16:24])  # the PNG header's IHDR chunk
    return summary_pb2.Summary.Value(
        tag=tag, metadata=image_metadata.create_summary_metadata(display_name=None, description=None),
        tensor=tensor_util.make_tensor_proto([str(width).encode(), str(height).encode(), png], dtype=np.object_))
