"""Fixtures for the TensorBoard tests: an eventlog of three real sweeps, and the real server over it.

The sweeps differ on purpose: an MLP grid, a binarised-input sweep whose
setting `hidden=16,lr=0.1` is also one of the grid's (so groups named by the
setting alone would mix the two sweeps), and a softmax run that sweeps
nothing (its core knobs are its columns).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.plugins.hparams import api_pb2, metadata

from harness.analysis import results
from harness.config import plan, schema
from harness.sweep.hparams_union import register_sweep
from harness.training.trial import run_trial
from harness.layout import Workspace
from sweeps import sweep_cmd, write_config

SWEEPS = {
    "mlp": {"sweep": {"parameters": {"model.hidden": [[16], [32]], "train.lr": [0.01, 0.1]}}},
    "bin": {"data": {"scaling": "binary"}, "train": {"optimizer": "sgd"},
            "sweep": {"repeats": 2, "parameters": {"model.hidden": [[16]], "train.lr": [0.1, 0.5]}}},
    "soft": {"model": {"family": "softmax"}, "train": {"optimizer": "sgd", "lr": 0.5}},
}
# The dashboard's columns: `sweep` and what the sweeps' trials differ in. (The softmax run's core knobs are
# its own columns, but its family, dropout, optimizer and batch size are one value over all three: no column.)
COLUMNS = {"sweep", "model.hidden", "train.lr"}
SETTINGS = {"mlp": 4, "bin": 2, "soft": 1}  # session groups per sweep
TRIALS = {"mlp": 4, "bin": 4, "soft": 1}
STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


@pytest.fixture(scope="session")
def three_sweeps(tmp_path_factory, mnist) -> Path:
    """The tmp dir holding runs/ and eventlog/ of the three sweeps, real tiny trainings.

    The grid runs through `sweep.py`, the others meanwhile in this process
    (the same trial code and writers a sweep's worker runs): three sweep
    processes at once would take a minute on two cores.
    """
    tmp = tmp_path_factory.mktemp("sweeps")
    first, *others = SWEEPS
    proc = subprocess.Popen(sweep_cmd(write_config(tmp, first, **SWEEPS[first]), tmp), cwd=tmp, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for name in others:
            run_in_process(write_config(tmp, name, **SWEEPS[name]), tmp, mnist)
    finally:
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"{first}: {out}\n{err}"
    return tmp


@pytest.fixture(scope="session")
def tb_eventlog(three_sweeps):
    """The base URL of `tensorboard --logdir eventlog` over the three sweeps, every session loaded."""
    with tensorboard(three_sweeps / "eventlog") as base:
        yield loaded(base, sum(SETTINGS.values()))


def loaded(base: str, groups: int) -> str:
    """The server, once it has read every session group (it loads in the background)."""
    wait_for(lambda: session_groups(base, experiment(base))["totalSize"] == groups, 60)
    return base


def run_in_process(config: Path, tmp: Path, mnist) -> None:
    """What `sweep.py CONFIG` does for a sweep that trains fine, in this process."""
    import keras

    cfg, specs = plan.plan(schema.load_raw(config))
    register_sweep(tmp / "eventlog", cfg)
    for spec in specs:
        record = run_trial(spec, Workspace(tmp / "runs", tmp / "eventlog"), mnist)
        assert record.status == "ok", record.traceback
        keras.backend.clear_session()
    sweep_dir = tmp / "runs" / cfg.name
    results.write_csv(sweep_dir, results.load_records(sweep_dir, [s.trial_id for s in specs]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def tensorboards(*logdirs: Path):
    """Real `tensorboard` servers on loopback, one per logdir, reloading every second.

    Started at once (each takes seconds to come up); yields their base URLs
    once every one answers.
    """
    servers = []
    try:
        for logdir in logdirs:
            log = tempfile.TemporaryFile()  # not a pipe: nobody drains it while the server runs
            port = free_port()
            proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
                                     "--host", "127.0.0.1", "--port", str(port), "--reload_interval", "1"],
                                    stdout=subprocess.DEVNULL, stderr=log)
            servers.append((f"http://127.0.0.1:{port}", proc, log))
        for base, proc, log in servers:
            deadline = time.time() + 90
            while True:
                try:
                    urllib.request.urlopen(f"{base}/data/plugins_listing", timeout=5).read()
                    break
                except OSError:
                    if proc.poll() is not None or time.time() > deadline:
                        log.seek(0)
                        raise RuntimeError(f"tensorboard did not start: {log.read().decode()[-2000:]}")
                    time.sleep(0.3)
        yield [base for base, _, _ in servers]
    finally:
        for _, proc, _ in servers:
            proc.terminate()
        for _, proc, log in servers:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # its data server dies with it (it watches its stdin)
                proc.kill()
                proc.wait(timeout=30)
            log.close()


@contextmanager
def tensorboard(logdir: Path):
    with tensorboards(logdir) as (base,):
        yield base


def wait_for(fn, timeout: float):
    """Retry `fn` (an OSError or AssertionError counts as not yet) until it returns truthy or `timeout` seconds pass."""
    deadline = time.time() + timeout
    while True:
        try:
            if fn():
                return
        except (OSError, AssertionError):
            if time.time() > deadline:
                raise
        if time.time() > deadline:
            raise AssertionError(f"not true within {timeout} s: {fn}")
        time.sleep(0.3)


def post(base: str, route: str, body: dict) -> dict:
    req = urllib.request.Request(f"{base}/data/plugin/hparams/{route}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def experiment(base: str) -> dict:
    return post(base, "experiment", {"experimentName": ""})


def session_groups(base: str, exp: dict, size: int = 1000) -> dict:
    """The session_groups answer for every column of `exp`, as the dashboard asks for them."""
    cols = [{"hparam": h["name"]} for h in exp["hparamInfos"]] + [{"metric": m["name"]} for m in exp["metricInfos"]]
    return post(base, "session_groups", {"experimentName": "", "startIndex": 0, "sliceSize": size,
                                         "allowedStatuses": STATUSES, "colParams": cols})


def experiment_configs(root: Path) -> dict[str, api_pb2.Experiment]:
    """Every experiment config TensorBoard would find under `root`, by event file, read by its own loader."""
    found = {}
    for path in sorted(root.rglob("*tfevents*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag == metadata.EXPERIMENT_TAG:
                    found[str(path.relative_to(root))] = metadata.parse_experiment_plugin_data(
                        value.metadata.plugin_data.content)
    return found
