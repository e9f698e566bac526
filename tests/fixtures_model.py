"""Fixtures for predict/serve tests: small real trained trials (MNIST, Fashion-MNIST), and live servers for them.

Imported by the test modules that use them (tests/conftest.py may register
this module instead, with `pytest_plugins`).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from PIL import Image

from harness.config import schema as config
from harness.serving.server import make_server
from harness.training.trial import run_trial
from harness.config.plan import TrialSpec
from harness.layout import Workspace
from tiny import QUIET, TINY, dataset_or_skip, merge

# ~2 s on 2 CPU cores, ~93% test accuracy: good enough that a wrong answer means a bug, not a weak model.
SMALL = merge(TINY, QUIET, {"name": "small", "data": {"limit": 20000, "test_limit": 1000},
                            "train": {"epochs": 3, "seed": 1, "batch_size": 128}, "logging": {"every_steps": 0}})
# The same on Fashion-MNIST: ~2 s, ~80% test accuracy (chance is 10%).
SMALL_FASHION = merge(SMALL, {"name": "small-fashion", "data": {"dataset": "fashion-mnist"}})


def _train(runs, raw: dict, data, accuracy: float):
    """The directory of trial t0 of `raw`, trained on `data`, which must reach `accuracy` on the test set."""
    record = run_trial(TrialSpec.single(config.from_dict(raw), "t0"), Workspace(runs / "runs", runs / "eventlog"), data)
    assert record.status == "ok", record.traceback
    assert record.test_accuracy > accuracy, record.test_accuracy
    return runs / "runs" / raw["name"] / "t0"


@pytest.fixture(scope="session")
def trained_trial(tmp_path_factory, mnist):
    """The directory of a finished trial (model.keras, trial.json) trained on real MNIST."""
    return _train(tmp_path_factory.mktemp("model"), SMALL, mnist, 0.85)


@pytest.fixture(scope="session")
def fashion():
    """The real Fashion-MNIST (the tests that need it skip without Debian's package)."""
    return dataset_or_skip("fashion-mnist")


@pytest.fixture(scope="session")
def fashion_trial(tmp_path_factory, fashion):
    """A finished trial trained on real Fashion-MNIST (config data.dataset: fashion-mnist)."""
    return _train(tmp_path_factory.mktemp("fashion-model"), SMALL_FASHION, fashion, 0.7)


def _serve(trial):
    """Base URL (http://127.0.0.1:PORT) of the real server for `trial`, serving from a thread until the session ends."""
    server = make_server(trial, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def server_url(trained_trial):
    """The server for the MNIST trial."""
    yield from _serve(trained_trial)


@pytest.fixture(scope="session")
def fashion_server_url(fashion_trial):
    """The server for the Fashion-MNIST trial."""
    yield from _serve(fashion_trial)


def post(url: str, body, raw: bool = False) -> tuple[int, dict]:
    """(status, JSON answer) of POSTing `body` (JSON-encoded unless `raw` bytes)."""
    data = body if raw else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def product_photo(x, up: int = 4):
    """A 28x28 Fashion-MNIST image as a shop's product photo looks: dark on white, upscaled, with a margin."""
    item = Image.fromarray(255 - x).resize((28 * up, 28 * up), Image.Resampling.BICUBIC)
    page = Image.new("L", (28 * up + 90, 28 * up + 50), 255)
    page.paste(item, (30, 20))
    return page
