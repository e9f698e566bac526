"""Histograms built in NumPy: the very protos TensorBoard's own histogram_pb writes, only faster."""

import numpy as np
import pytest
from tensorboard.plugins.histogram.summary_v2 import histogram_pb

from harness.training.summaries import stats_pb

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("values", [RNG.standard_normal(5000).astype(np.float32), np.full(7, 3.0),
                                    np.array([0.0, 1.0, 1.0, 0.5, 1 / 30]), RNG.integers(-3, 3, 100)],
                         ids=["normal", "constant", "edges", "integers"])
def test_histogram_equals_tensorboards(values):
    ours = stats_pb("w", values)
    assert ours[0] == histogram_pb("w", np.asarray(values, np.float64), buckets=30).value[0]
    assert [v.tag for v in ours[1:]] == ["w/mean", "w/stddev", "w/min", "w/max"]


def test_non_finite_values_are_left_out():
    assert stats_pb("w", np.array([np.nan, 1.0, 2.0]))[0] == histogram_pb("w", np.array([1.0, 2.0]), buckets=30).value[0]
    assert stats_pb("w", np.array([np.inf, np.nan])) == []


def test_png_written_as_tf_summary_image_would(tmp_path):
    import io

    import tensorflow as tf
    from PIL import Image
    from tensorboard.backend.event_processing import event_accumulator as ea

    from harness.training import figures
    from harness.training.summaries import image_value
    from tensorboard.compat.proto import summary_pb2

    png = figures.confusion_matrix(np.arange(10), np.arange(10))
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default(step=3):
        tf.summary.image("ref", tf.expand_dims(tf.image.decode_png(png, channels=3), 0))
        tf.summary.experimental.write_raw_pb(summary_pb2.Summary(value=[image_value("ours", png)]).SerializeToString(),
                                             step=3)
    writer.close()
    acc = ea.EventAccumulator(str(tmp_path), size_guidance={ea.TENSORS: 0})
    acc.Reload()
    assert acc.SummaryMetadata("ours") == acc.SummaryMetadata("ref")
    ours, ref = acc.Tensors("ours")[0], acc.Tensors("ref")[0]
    assert ours.step == 3 and ours.tensor_proto.string_val[:2] == ref.tensor_proto.string_val[:2]
    assert ours.tensor_proto.string_val[2] == png
    assert Image.open(io.BytesIO(png)).size == tuple(int(x) for x in ours.tensor_proto.string_val[:2])
