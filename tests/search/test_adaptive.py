"""Adaptive sweeps with real tiny trainings: tpe + ASHA on both executors, pruned trials, kill -9 and resume."""

from __future__ import annotations

import os
import signal
import subprocess

import pandas as pd
import pytest
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata as hp_metadata
from tensorboard.plugins.hparams import plugin_data_pb2

from harness.layout import run_name
from harness.metrics import PRUNED_EPOCH
from sweeps import EXECUTORS, record_of, run_sweep, sweep_cmd, wait_for, write_config

SEARCH = {"method": "tpe", "trials": 6, "seed": 1,
          "pruner": {"kind": "asha", "min_epochs": 1, "reduction_factor": 2},
          "parameters": {"train.lr": {"distribution": "log_uniform", "min": 1.0e-4, "max": 0.3},
                         "model.hidden": [[16], [64]]}}


def _session_end(log_dir):
    acc = ea.EventAccumulator(str(log_dir), size_guidance={ea.TENSORS: 0})
    acc.Reload()
    end = plugin_data_pb2.HParamsPluginData.FromString(
        acc.SummaryMetadata(hp_metadata.SESSION_END_INFO_TAG).plugin_data.content).session_end_info
    return end.status, acc


@pytest.mark.parametrize("executor", EXECUTORS)
def test_tpe_with_asha_prunes_and_records_pruned_trials(tmp_path, executor):
    cfg = write_config(tmp_path, "adapt", data={"limit": 1000}, train={"epochs": 3}, sweep=SEARCH)
    out = run_sweep(cfg, tmp_path, "--executor", executor, "--workers", "2")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "tpe search of 6 settings" in out.stdout and "pruned" in out.stdout
    df = pd.read_csv(tmp_path / "runs" / "adapt" / "results.csv")
    assert len(df) == 6 and df["trial_id"].is_unique and set(df["status"]) <= {"ok", "pruned"}
    pruned, ok = df[df["status"] == "pruned"], df[df["status"] == "ok"]
    assert len(pruned) >= 1 and len(ok) >= 1
    assert (pruned["epochs_run"] < 3).all() and pruned["test_accuracy"].isna().all()  # stopped early, never tested
    assert pruned["train_seconds"].gt(0).all() and ok["test_accuracy"].notna().all()
    for tid in pruned["trial_id"]:
        record = record_of(tmp_path / "runs" / "adapt" / tid)
        assert record["status"] == "pruned" and record["epochs_run"] == len(
            pd.read_csv(tmp_path / "runs" / "adapt" / tid / "history.csv"))
        status, acc = _session_end(tmp_path / "eventlog" / "adapt" / run_name(tid))
        assert status == api_pb2.STATUS_UNKNOWN  # told apart from finished (SUCCESS) and failed (FAILURE)
        assert PRUNED_EPOCH.tag in acc.Tags()["tensors"]
    status, _ = _session_end(tmp_path / "eventlog" / "adapt" / run_name(ok["trial_id"].iloc[0]))
    assert status == api_pb2.STATUS_SUCCESS
    # The ranking leaves pruned trials out, shows the chosen trial's test accuracy, and counts all compute.
    table = next(part for part in out.stdout.split("\n\n") if "test acc" in part.splitlines()[0])
    assert "val acc" in table and "pruned" not in table
    assert f"compute:     {int(df['epochs_run'].sum())} epochs" in out.stdout

    again = run_sweep(cfg, tmp_path, "--executor", executor, "--retry-failed")  # pruned is a result, not a failure
    assert again.returncode == 0 and "6 trials already finished, up to 0 to run" in again.stdout, again.stdout
    assert pd.read_csv(tmp_path / "runs" / "adapt" / "results.csv").equals(df)


@pytest.mark.slow
def test_kill_9_mid_search_then_the_same_command_continues_it(tmp_path):
    cfg = write_config(tmp_path, "adapt", data={"limit": 2000}, train={"epochs": 3},
                       sweep={**SEARCH, "trials": 8})
    run_dir = tmp_path / "runs" / "adapt"
    proc = subprocess.Popen(sweep_cmd(cfg, tmp_path, "--workers", "2", "--fuse", "off"), cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        def finished():
            return sum(record_of(d).get("status") in ("ok", "pruned") for d in run_dir.glob("*/"))

        assert wait_for(lambda: finished() >= 3, 240)
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, mid-trial
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    before = {d.name: record_of(d) for d in run_dir.glob("*/")}
    done = {t: r for t, r in before.items() if r.get("status") in ("ok", "pruned")}
    assert 3 <= len(done) < 8

    out = run_sweep(cfg, tmp_path, "--workers", "2", "--fuse", "off")
    assert out.returncode == 0, out.stdout + out.stderr
    df = pd.read_csv(run_dir / "results.csv")
    assert len(df) == 8 and df["trial_id"].is_unique and set(df["status"]) <= {"ok", "pruned"}
    for tid, record in done.items():  # finished and pruned trials kept as they were, not retrained
        assert record_of(run_dir / tid) == record
    unfinished = set(before) - set(done)
    for tid in unfinished:  # the interrupted ones were resumed, not replaced by new settings
        assert record_of(run_dir / tid)["status"] in ("ok", "pruned")
    assert set(before) <= set(df["trial_id"])


def test_a_test_metric_is_refused_for_adaptive_search(tmp_path):
    for section in ({**SEARCH, "metric": {"name": "test_accuracy"}},
                    {"method": "grid", "parameters": {"train.lr": [0.1, 0.01]}, "pruner": {"kind": "median"},
                     "metric": {"name": "test_loss", "goal": "minimize"}}):
        cfg = write_config(tmp_path, "honest", sweep=section)
        out = run_sweep(cfg, tmp_path)
        assert out.returncode == 2 and "inflates the winner's test score" in out.stderr, out.stderr
        assert not (tmp_path / "runs" / "honest").exists()  # refused before anything ran
