"""Fused sweeps through the command line: every member a trial of its own, killed and resumed like one."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import numpy as np
import pandas as pd
import pytest
from tensorboard.backend.event_processing import event_accumulator as ea

from harness.training import keep
from harness.training.summaries import LAYERS
from harness.layout import run_name
from sweeps import record_of, run_sweep, sweep_cmd, wait_for, write_config

LRS = [0.001, 0.003, 0.01]
GRID = {"parameters": {"train.lr": LRS}, "repeats": 2}


def _tags(log_dir):
    acc = ea.EventAccumulator(str(log_dir), size_guidance={ea.TENSORS: 0, ea.IMAGES: 0})
    acc.Reload()
    return acc, set(acc.Tags()["tensors"])


@pytest.mark.slow
def test_a_fused_sweep_is_the_unfused_sweep_in_everything_a_user_sees(tmp_path):
    cfg = write_config(tmp_path, "fz", train={"epochs": 2}, logging={"histograms_every": 1, "images": True},
                       sweep=GRID)
    dry = run_sweep(cfg, tmp_path, "--dry-run")
    assert "fusion: 6 trials in 1 fused group" in dry.stdout, dry.stdout
    for side in ("f", "u"):
        (tmp_path / side).mkdir()
    fused = run_sweep(cfg, tmp_path / "f", "--workers", "2")
    alone = run_sweep(cfg, tmp_path / "u", "--fuse", "off")
    assert fused.returncode == 0 and alone.returncode == 0, fused.stderr + alone.stderr
    assert "fusion:      6 of 6 trials trained fused, in 1 group" in fused.stdout
    f, u = (pd.read_csv(tmp_path / side / "runs" / "fz" / "results.csv") for side in ("f", "u"))
    assert f["trial_id"].tolist() == u["trial_id"].tolist() and (f["status"] == "ok").all()
    assert (f["fused_size"] == 6).all() and (u["fused_size"] == 1).all()
    assert np.abs(f["test_accuracy"] - u["test_accuracy"]).max() <= 1 / 300 + 1e-9  # an image at most
    assert f["cpu_seconds"].gt(0).all() and f["train_seconds"].gt(0).all()
    for tid in f["trial_id"]:
        runs = {side: tmp_path / side / "runs" / "fz" / tid for side in ("f", "u")}
        assert sorted(p.name for p in runs["f"].iterdir()) == sorted(p.name for p in runs["u"].iterdir())
        hf, hu = (pd.read_csv(runs[s] / "history.csv") for s in ("f", "u"))
        np.testing.assert_allclose(hf["loss"], hu["loss"], rtol=1e-3)  # round-off grows with lr 0.01 (test_fused.py: exact)
        assert hf["step"].tolist() == hu["step"].tolist()
        (af, tf_), (au, tu) = (_tags(tmp_path / side / "eventlog" / "fz" / run_name(tid)) for side in ("f", "u"))
        assert tf_ == tu and {"steps/loss", f"{LAYERS}/hidden1/weights", "test_digits/confusion_matrix"} <= tf_
        np.testing.assert_allclose([e.step for e in af.Tensors("steps/loss")],
                                   [e.step for e in au.Tensors("steps/loss")])
        model = keep.load(runs["f"])  # what predict and serve load
        assert model.predict(np.zeros((1, 28, 28), np.uint8), verbose=0).shape == (1, 10)
        assert json.loads((runs["f"] / "trial.json").read_text())["fused_size"] == 6


def test_members_that_diverge_or_are_pruned_leave_their_group_recorded_as_such(tmp_path):
    cfg = write_config(tmp_path, "leave", data={"limit": 2000}, train={"epochs": 3, "optimizer": "sgd"},
                       sweep={"parameters": {"train.lr": [0.3, 0.1, 0.03, 0.01, 0.003, 1.0e6]},
                              "pruner": {"kind": "asha", "min_epochs": 1, "reduction_factor": 2}})
    out = run_sweep(cfg, tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr  # the diverged one
    df = pd.read_csv(tmp_path / "runs" / "leave" / "results.csv").set_index("trial_id")
    assert df.loc["lr=1000000.0", "status"] == "diverged" and (df["fused_size"] == 6).all()
    pruned = df[df["status"] == "pruned"]
    assert len(pruned) >= 1 and (pruned["epochs_run"] < 3).all()
    assert (df[df["status"] == "ok"]["epochs_run"] == 3).all()


@pytest.mark.slow
def test_kill_9_mid_group_then_each_member_continues_from_its_checkpoint(tmp_path):
    cfg = write_config(tmp_path, "kz", data={"limit": 4000}, train={"epochs": 3}, sweep={"parameters": {"train.lr": LRS}})
    run_dir = tmp_path / "runs" / "kz"
    proc = subprocess.Popen(sweep_cmd(cfg, tmp_path), cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_for(lambda: all(any((run_dir / f"lr={lr}" / "checkpoint").glob("ckpt-*")) for lr in LRS), 240)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert {record_of(run_dir / f"lr={lr}").get("status") for lr in LRS} == {"running"}
    out = run_sweep(cfg, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    df = pd.read_csv(run_dir / "results.csv")
    assert len(df) == 3 and (df["status"] == "ok").all() and (df["fused_size"] == 3).all()
    for lr in LRS:
        record = record_of(run_dir / f"lr={lr}")
        assert record["attempts"] == 2 and record["resumed_from_epoch"] >= 1, record
        assert pd.read_csv(run_dir / f"lr={lr}" / "history.csv")["epoch"].tolist() == [1, 2, 3]
