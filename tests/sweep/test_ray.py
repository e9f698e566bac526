"""The Ray executor: the same sweep as the local executor, a worker killed mid-trial, artifacts shipped back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.sweep.ray_tasks import install_tree, pack_tree, unpack_tree
from harness.layout import run_name
from sweeps import ROOT, descendants, write_config

GRID = {"parameters": {"model.hidden": [[16], [32]], "train.lr": [0.001, 0.01]}}
TRIALS = ["hidden=16,lr=0.001", "hidden=16,lr=0.01", "hidden=32,lr=0.001", "hidden=32,lr=0.01"]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_pack_unpack_round_trips_a_tree(tmp_path):
    src = tmp_path / "src"
    files = {"trial.json": b'{"status": "ok"}\n', "history.csv": b"epoch,loss\n1,0.5\n", "empty": b"",
             "model.keras": os.urandom(70_000), "deep/er/still.bin": bytes(range(256)) * 3,
             "checkpoint/chief/ckpt.index": b"x", ".trial.json.123.tmp": b"half", ".lock": b""}
    for rel, content in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(content)

    unpack_tree(pack_tree(src), tmp_path / "all")
    shipped = {k: v for k, v in files.items() if k not in (".trial.json.123.tmp", ".lock")}
    assert _tree(tmp_path / "all") == shipped  # bytes for bytes; locks and temporary files stay home

    unpack_tree(pack_tree(src, skip=("checkpoint",)), tmp_path / "done")
    assert _tree(tmp_path / "done") == {k: v for k, v in shipped.items() if not k.startswith("checkpoint/")}
    assert pack_tree(tmp_path / "missing") == b"" and not any(unpack_tree(b"", tmp_path / "none") or
                                                              (tmp_path / "none").iterdir())

    # Installing over a partial copy: files replaced, the stale checkpoint gone, the lock kept, staging cleaned.
    dest = tmp_path / "runs" / "exp" / "t"
    (dest / "checkpoint").mkdir(parents=True)
    (dest / "checkpoint" / "old").write_bytes(b"old")
    (dest / "trial.json").write_bytes(b'{"status": "running"}')
    (dest / ".lock").write_bytes(b"")
    install_tree(pack_tree(src, skip=("checkpoint",)), dest, tmp_path / "runs" / ".staging", last="trial.json")
    assert _tree(dest) == {**{k: v for k, v in shipped.items() if not k.startswith("checkpoint/")}, ".lock": b""}
    assert not (dest / "checkpoint").exists() and not any((tmp_path / "runs" / ".staging").iterdir())


def _ray_trial_pids(ancestor: int) -> list[int]:
    """Ray worker processes running a trial task, started (via the raylet) by `ancestor`."""
    return [pid for pid, title in descendants(ancestor).items() if title.startswith(b"ray::trial ")]


@pytest.mark.slow
def test_ray_sweep_matches_local_and_survives_a_killed_worker(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (optional): .venv/bin/pip install -r requirements-ray.txt")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    cfg = write_config(tmp_path, "grid", data={"limit": 500, "test_limit": 200}, sweep=GRID)

    def cmd(where, *extra):
        return [sys.executable, "sweep.py", str(cfg), "--runs", str(tmp_path / where / "runs"),
                "--eventlog", str(tmp_path / where / "eventlog"), "--workers", "2", "--quiet", *extra]

    # On a local Ray with 2 CPUs; the first worker seen running a trial is killed (SIGKILL) mid-trial.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.Popen(cmd("ray", "--executor", "ray"), cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed = []
    deadline = time.time() + 120
    while not killed and proc.poll() is None and time.time() < deadline:
        for pid in _ray_trial_pids(proc.pid)[:1]:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        time.sleep(0.1)
    out, err = proc.communicate(timeout=180)
    assert killed, "no Ray worker was seen running a trial"
    assert proc.returncode == 0, out + err

    local = subprocess.run(cmd("local", "--executor", "local"), cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert local.returncode == 0, local.stdout + local.stderr

    on_ray, here = (pd.read_csv(tmp_path / w / "runs" / "grid" / "results.csv").set_index("trial_id").sort_index()
                    for w in ("ray", "local"))
    assert list(on_ray.index) == list(here.index) == TRIALS
    assert list(on_ray.columns) == list(here.columns) and (on_ray["status"] == "ok").all()
    assert on_ray["status"].equals(here["status"]) and on_ray["test_accuracy"].equals(here["test_accuracy"])
    attempts = {t: json.loads((tmp_path / "ray" / "runs" / "grid" / t / "trial.json").read_text())["attempts"]
                for t in TRIALS}
    # Each width's two trials train as one fused group (one Ray task): the killed group's members ran
    # again, from the driver's copy, and the other group's once.
    assert sorted(attempts.values()) == [1, 1, 2, 2]
    assert attempts[TRIALS[0]] == attempts[TRIALS[1]] and attempts[TRIALS[2]] == attempts[TRIALS[3]]

    for tid in TRIALS:
        run_dir = tmp_path / "ray" / "runs" / "grid" / tid
        assert {"trial.json", "config.yaml", "history.csv", "model.keras"} <= {p.name for p in run_dir.iterdir()}
        assert not (run_dir / "checkpoint").exists()
        events = list((tmp_path / "ray" / "eventlog" / "grid" / run_name(tid)).glob("events.out.tfevents.*"))
        assert len(events) == 1
        acc = EventAccumulator(str(events[0]), size_guidance={"tensors": 0})
        acc.Reload()
        assert "test/accuracy" in acc.Tags()["tensors"]
        assert float(make_ndarray(acc.Tensors("test/accuracy")[-1].tensor_proto)) == pytest.approx(
            on_ray.loc[tid, "test_accuracy"], rel=1e-6)
    assert not list((tmp_path / "ray").glob("*/.ray-staging"))


@pytest.mark.slow
def test_two_node_cluster_places_trials_on_both_and_survives_losing_one(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed (optional): .venv/bin/pip install -r requirements-ray.txt")
    from ray.cluster_utils import Cluster

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker_node = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    head = cluster.head_node.node_id
    try:
        trials = [f"lr={lr}" for lr in (0.001, 0.002, 0.003, 0.004, 0.005)]
        cfg = write_config(tmp_path, "nodes", data={"limit": 3000}, train={"epochs": 2},
                           sweep={"parameters": {"train.lr": [0.001, 0.002, 0.003, 0.004, 0.005]}})
        # Joining a cluster ships the harness package with the job (runtime_env), as on real machines.
        proc = subprocess.Popen([sys.executable, "sweep.py", str(cfg), "--runs", str(tmp_path / "runs"),
                                 "--eventlog", str(tmp_path / "eventlog"), "--workers", "2", "--quiet",
                                 "--executor", "ray", "--ray-address", cluster.address,
                                 "--fuse", "2"], cwd=ROOT, text=True,  # 3 tasks (groups of 2, 2 and 1), not 1 of 5
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        run_dir = tmp_path / "runs" / "nodes"

        def nodes_done():
            recs = [json.loads(p.read_text()) for p in run_dir.glob("*/trial.json")]
            return {r["node"] for r in recs if r["status"] == "ok"}

        deadline = time.time() + 240
        while worker_node.node_id not in nodes_done() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert worker_node.node_id in nodes_done(), "no trial finished on the second node"
        cluster.remove_node(worker_node)  # mid-sweep: its running trial is lost and runs again on the head
        out, err = proc.communicate(timeout=300)
    finally:
        if "proc" in locals() and proc.poll() is None:
            proc.kill()
        ray.shutdown()
        cluster.shutdown()
    assert proc.returncode == 0, out + err
    df = pd.read_csv(run_dir / "results.csv")
    assert sorted(df["trial_id"]) == trials and (df["status"] == "ok").all()  # every trial once
    nodes = {json.loads((run_dir / t / "trial.json").read_text())["node"] for t in trials}
    assert nodes == {head, worker_node.node_id}  # placed on both nodes
