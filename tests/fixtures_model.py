"""Fixtures for predict/serve tests: one small real trained trial, and a live server for it.

Imported by the test modules that use them (tests/conftest.py may register
this module instead, with `pytest_plugins`).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from harness.config import schema as config
from harness.serving.server import make_server
from harness.training.trial import run_trial
from harness.config.plan import TrialSpec
from harness.layout import Workspace
from tiny import QUIET, TINY, merge

# ~2 s on 2 CPU cores, ~93% test accuracy: good enough that a wrong answer means a bug, not a weak model.
SMALL = merge(TINY, QUIET, {"name": "small", "data": {"limit": 20000, "test_limit": 1000},
                            "train": {"epochs": 3, "seed": 1, "batch_size": 128}, "logging": {"every_steps": 0}})


@pytest.fixture(scope="session")
def trained_trial(tmp_path_factory, mnist):
    """The directory of a finished trial (model.keras, trial.json) trained on real MNIST."""
    runs = tmp_path_factory.mktemp("model")
    record = run_trial(TrialSpec.single(config.from_dict(SMALL), "t0"), Workspace(runs / "runs", runs / "eventlog"), mnist)
    assert record.status == "ok", record.traceback
    assert record.test_accuracy > 0.85, record.test_accuracy
    return runs / "runs" / "small" / "t0"


@pytest.fixture(scope="session")
def server_url(trained_trial):
    """Base URL (http://127.0.0.1:PORT) of the real server, serving from a thread."""
    server = make_server(trained_trial, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def post(url: str, body, raw: bool = False) -> tuple[int, dict]:
    """(status, JSON answer) of POSTing `body` (JSON-encoded unless `raw` bytes)."""
    data = body if raw else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
