"""Shared fixtures: the real MNIST (loaded once) and tiny real configs."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from harness.config import schema as config
from harness.training import data  # noqa: E402

pytest_plugins = ["fixtures_model", "fixtures_eventlog"]  # a trained trial and its server; three sweeps

TINY = {
    "data": {"limit": 1000, "test_limit": 300},
    "train": {"epochs": 1, "batch_size": 100},
    "logging": {"every_steps": 5, "histograms_every": 1},
}


def merge(base: dict, extra: dict) -> dict:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for k, v in extra.items():
        out[k] = merge(out.get(k, {}), v) if isinstance(v, dict) else v
    return out


@pytest.fixture(scope="session")
def mnist() -> data.Mnist:
    return data.load()


@pytest.fixture
def tiny_config():
    """A factory: a validated config training ~1 second on real MNIST, plus overrides."""

    def make(**sections) -> config.ExperimentConfig:
        return config.from_dict(merge({"name": "tiny", **TINY}, sections))

    return make
