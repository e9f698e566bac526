"""The HParams dashboard as a user sees it: the real `tensorboard` server over a small sweep."""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pandas as pd
import pytest

from sweeps import run_sweep, write_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(base, route, body):
    req = urllib.request.Request(f"{base}/data/plugin/hparams/{route}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def sweep_on_tensorboard(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tb")
    cfg = write_config(tmp, "hp", sweep={"repeats": 2, "parameters": {
        "model.dropout": [0.0, 0.3], "train.optimizer": ["adam", "sgd"]}})
    out = run_sweep(cfg, tmp, "--workers", "2")
    assert out.returncode == 0, out.stderr
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(tmp / "eventlog" / "hp"),
                               "--host", "127.0.0.1", "--port", str(port), "--reload_interval", "0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/data/plugins_listing", timeout=5).read()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError(f"tensorboard did not start: {server.stderr.read().decode()[-2000:]}")
                time.sleep(0.5)
        yield base, pd.read_csv(tmp / "runs" / "hp" / "results.csv")
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_experiment_lists_swept_parameters_and_metrics(sweep_on_tensorboard):
    base, _ = sweep_on_tensorboard
    exp = _post(base, "experiment", {"experimentName": ""})
    params = {h["name"]: h for h in exp["hparamInfos"]}
    assert set(params) == {"model.dropout", "train.optimizer"}
    assert sorted(params["train.optimizer"]["domainDiscrete"]) == ["adam", "sgd"]
    metrics = {m["name"]["tag"] for m in exp["metricInfos"]}
    assert {"test/accuracy", "val/best_accuracy", "time/train_seconds", "test/loss"} <= metrics


def test_one_session_per_trial_with_the_csv_values(sweep_on_tensorboard):
    base, df = sweep_on_tensorboard
    groups = _post(base, "session_groups", {
        "experimentName": "", "startIndex": 0, "sliceSize": 100, "allowedStatuses": [
            "STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
        "colParams": [{"hparam": "model.dropout"}, {"hparam": "train.optimizer"},
                      {"metric": {"tag": "test/accuracy"}}]})["sessionGroups"]
    assert len(groups) == 4  # one group per setting, holding its two repeats
    sessions = {s["name"]: s for g in groups for s in g["sessions"]}
    assert sorted(sessions) == sorted(df["trial_id"])
    for _, row in df.iterrows():
        session = sessions[row["trial_id"]]
        assert session["status"] == "STATUS_SUCCESS"
        value = {m["name"]["tag"]: m["value"] for m in session["metricValues"]}["test/accuracy"]
        assert value == pytest.approx(row["test_accuracy"], rel=1e-6)
