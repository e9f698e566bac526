"""Confirming the winner with real tiny trainings: sweep.confirm and `python -m harness confirm`, killed and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pandas as pd
import pytest
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.plugins.hparams import metadata as hp_metadata
from tensorboard.plugins.hparams import plugin_data_pb2

from harness.hparams import session_group
from harness.layout import run_name
from harness.racing.verdict import block
from sweeps import ROOT, record_of, run_sweep, sweep_cmd, wait_for, write_config

SWEEP = {"method": "grid", "repeats": 2, "parameters": {"train.lr": [0.0003, 0.003, 0.03]}}
DATA = {"limit": 500, "test_limit": 200}


def _group(log_dir) -> str:
    acc = ea.EventAccumulator(str(log_dir), size_guidance={ea.TENSORS: 0})
    acc.Reload()
    content = acc.SummaryMetadata(hp_metadata.SESSION_START_INFO_TAG).plugin_data.content
    return plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.group_name


def _kill_when(proc: subprocess.Popen, ready, sig: int) -> None:
    try:
        assert wait_for(ready, 300), "the race never started"
        os.killpg(proc.pid, sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_sweep_with_confirm_ends_with_its_verdict_and_resumes_after_kill_9(tmp_path):
    cfg = write_config(tmp_path, "race", data=DATA, sweep={**SWEEP, "confirm": {"top": 2, "max_repeats": 4, "alpha": 0.001}})
    run_dir = tmp_path / "runs" / "race"
    proc = subprocess.Popen(sweep_cmd(cfg, tmp_path, "--workers", "2"), cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    _kill_when(proc, lambda: any(record_of(d).get("status") for d in run_dir.glob("*,rep=2")), signal.SIGKILL)
    before = {d.name: record_of(d) for d in run_dir.glob("lr=*")}
    done = {t: r for t, r in before.items() if r.get("status") == "ok"}

    out = run_sweep(cfg, tmp_path, "--workers", "2")
    assert out.returncode == 0, out.stdout + out.stderr
    for tid, record in done.items():  # finished trials kept as they were: nothing trained twice
        assert record_of(run_dir / tid) == record
    df = pd.read_csv(run_dir / "results.csv")
    folders = {d.name for d in run_dir.glob("lr=*")}
    assert set(df["trial_id"]) == folders and df["trial_id"].is_unique and (df["status"] == "ok").all()
    extra = df[df["repeat"] >= 2]
    assert len(extra) >= 2 and set(extra["seed"]) <= {2, 3} and (extra["trial_id"].str.contains(",rep=")).all()
    verdict = json.loads((run_dir / "confirm.json").read_text())
    assert verdict["state"] == "done" and verdict["confirmation_trials"] == len(extra)
    answer = block(verdict, "race")  # the same block, from the same numbers, at the sweep's end and in compare
    assert verdict["leader"] in set(df["group"]) and out.stdout.rstrip().endswith(answer + f"\n(details: {run_dir / 'confirm.json'})")
    assert answer.startswith("race: ") and run_name(verdict["leader"]) in answer and "Test accuracy, %" in answer
    assert all(len(line) <= 80 for line in answer.split("\n"))
    for tid in extra["trial_id"]:  # a race's seed is an ordinary trial: its own run, in its setting's HParams group
        assert _group(tmp_path / "eventlog" / "race" / run_name(tid)) == session_group("race", tid.split(",rep=")[0])

    compare = subprocess.run([sys.executable, "-m", "harness", "compare", str(run_dir)], capture_output=True,
                             text=True, cwd=ROOT, timeout=120)
    assert compare.returncode == 0 and compare.stdout.rstrip().endswith(answer), compare.stdout + compare.stderr
    assert "Verdict:" not in compare.stdout and "Welch" not in compare.stdout  # one answer: the race's


@pytest.mark.slow
def test_confirm_races_a_finished_sweep_and_resumes_after_ctrl_c(tmp_path):
    cfg = write_config(tmp_path, "later", data=DATA, sweep=SWEEP)
    assert run_sweep(cfg, tmp_path, "--workers", "2").returncode == 0
    run_dir = tmp_path / "runs" / "later"
    cmd = [sys.executable, "-m", "harness", "confirm", str(run_dir), "--eventlog", str(tmp_path / "eventlog"),
           "--top", "2", "--max-repeats", "3", "--alpha", "0.001", "--quiet"]
    dry = subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert dry.returncode == 0 and "then at most 2 confirmation trials" in dry.stdout, dry.stdout + dry.stderr
    assert not any(run_dir.glob("*,rep=2"))

    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    _kill_when(proc, lambda: any(run_dir.glob("*,rep=2/trial.json")), signal.SIGINT)
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    df = pd.read_csv(run_dir / "results.csv")
    assert len(df) == 8 and df["trial_id"].is_unique and (df["status"] == "ok").all()
    assert all(record_of(run_dir / t)["attempts"] <= 2 for t in df["trial_id"])
    verdict = json.loads((run_dir / "confirm.json").read_text())
    assert verdict["seeds_each"] == 3 and [c["seeds"] for c in verdict["contenders"]] == [3, 3]
    assert "sweep:" in (run_dir / "sweep.yaml").read_text() and "max_repeats: 3" in (run_dir / "sweep.yaml").read_text()
