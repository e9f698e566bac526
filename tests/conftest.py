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


def _signal_state() -> tuple:
    """Ctrl-C as this test process would pass it on: SIGINT's handler and whether this thread blocks it."""
    import signal

    return signal.getsignal(signal.SIGINT), signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])


@pytest.fixture(autouse=True)
def _ctrl_c_reaches_children():
    """A test that leaves SIGINT ignored or blocked in the test process fails here, and is undone: every
    command a later test starts would inherit it and never see a Ctrl-C."""
    import signal

    before = _signal_state()
    yield
    after = _signal_state()
    if after != before:
        signal.signal(signal.SIGINT, before[0])
        signal.pthread_sigmask(signal.SIG_UNBLOCK if not before[1] else signal.SIG_BLOCK, [signal.SIGINT])
        pytest.fail(f"this test changed SIGINT in the test process: {before} -> {after}")
