"""The order a trial sees its training images in: owned by the harness, not by Keras.

Keras' `fit(shuffle=True)` draws each epoch's order from TensorFlow's global
random state, which nothing outside Keras can reproduce. A fused trial
(fusion/loop.py) must see exactly the batches its unfused twin would, so both paths
take each epoch's order from here: a permutation drawn from (seed, epoch)
alone, the same whether the trial runs alone or fused, resumed or not.
"""

from __future__ import annotations

import math

import numpy as np


def permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """The indices of the `n` training images in the order epoch `epoch` (0-based) visits them."""
    return np.random.default_rng([seed, epoch]).permutation(n).astype(np.int32)


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


def dataset(x: np.ndarray, y: np.ndarray, seed: int, batch_size: int, first_epoch: int, epochs: int):
    """Batches of (images, labels) for epochs first_epoch..epochs-1, in `permutation` order.

    Every epoch ends with its own partial batch, as `fit` over arrays does; `fit`
    needs `steps_per_epoch` (above) to find the epochs in the stream.
    """
    import tensorflow as tf

    n = len(x)
    order = np.concatenate([permutation(seed, e, n) for e in range(first_epoch, epochs)] or [np.zeros(0, np.int32)])
    per_epoch = tf.data.Dataset.from_tensor_slices(order.reshape(max(epochs - first_epoch, 0), n))
    xs, ys = tf.constant(x), tf.constant(y)
    return (per_epoch.flat_map(lambda idx: tf.data.Dataset.from_tensor_slices(idx).batch(batch_size))
            .map(lambda idx: (tf.gather(xs, idx), tf.gather(ys, idx)), num_parallel_calls=1, deterministic=True)
            .prefetch(2))
