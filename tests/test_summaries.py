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
