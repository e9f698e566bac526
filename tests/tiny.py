"""The one tiny config every test starts from: real MNIST, a few hundred images, one epoch (~1 s)."""

from __future__ import annotations

TINY = {
    "data": {"limit": 1000, "test_limit": 300},
    "train": {"epochs": 1, "batch_size": 100},
    "logging": {"every_steps": 5, "histograms_every": 1},
}
QUIET = {"logging": {"histograms_every": 0, "images": False}}  # for tests that look at results, not summaries


def merge(base: dict, *extras: dict) -> dict:
    """`base` with each of `extras` merged in, section by section (nested mappings merge, values replace)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for extra in extras:
        for k, v in extra.items():
            out[k] = merge(out.get(k, {}), v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def dataset_or_skip(name: str):
    """The verified dataset `name`, or the test skipped saying why (Fashion-MNIST needs Debian's package,
    which `make data` installs where it can)."""
    import pytest

    from harness.training import data

    try:
        return data.loaded(name)
    except data.DataError as e:
        pytest.skip(f"{name} is not available here ({str(e).splitlines()[0]}); make data installs it")
