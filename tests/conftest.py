"""Shared fixtures: the real MNIST (loaded once) and tiny real configs."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from harness.config import schema as config  # noqa: E402
from harness.training import data  # noqa: E402
from tiny import TINY, merge  # noqa: E402


pytest_plugins = ["fixtures_model", "fixtures_eventlog", "fixtures_faults"]  # a trained trial and its server; three
# sweeps; a finished sweep to damage. (A test module imports none of their fixtures: an imported fixture
# is the module's own, trained again for each module that imports it.)


@pytest.fixture(scope="session")
def mnist() -> data.Mnist:
    return data.load()


@pytest.fixture
def tiny_config():
    """A factory: the tiny config (tests/tiny.py) validated, plus overrides by section."""

    def make(**sections) -> config.ExperimentConfig:
        return config.from_dict(merge({"name": "tiny"}, TINY, sections))

    return make


def _ctrl_c_reaches_children() -> None:
    """Commands the tests start and Ctrl-C (SIGINT) must take it, even when the suite itself runs where
    SIGINT is ignored: a background job of a non-interactive shell (`make test-all &`, nohup, some CI
    runners) starts with SIGINT and SIGQUIT ignored, every child inherits that, and Python then installs
    no KeyboardInterrupt handler. A handled signal is not inherited: children start with the default."""
    import signal

    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


_ctrl_c_reaches_children()
