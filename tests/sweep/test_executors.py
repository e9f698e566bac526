"""The same scheduler policies on both executors: a worker killed mid-trial, every attempt dying, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from sweeps import EXECUTORS, descendants, record_of, sweep_cmd, wait_for, write_config

pytestmark = pytest.mark.slow  # workers killed and Ctrl-C mid-sweep



def trial_workers(sweep_pid: int, executor: str) -> list[int]:
    """The processes that train trials: local spawned workers, or Ray tasks named `trial ...`."""
    mark = b"spawn_main" if executor == "local" else b"ray::trial "
    return [pid for pid, cmd in descendants(sweep_pid).items() if (mark in cmd if executor == "local" else cmd.startswith(mark))]


def _start(cfg, tmp_path, executor, *extra):
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.Popen(sweep_cmd(cfg, tmp_path, "--executor", executor, *extra), cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _kill_training(proc, executor, run_dir: Path, attempts_seen: int, timeout=120.0) -> bool:
    """SIGKILL the worker once the trial's attempt number `attempts_seen + 1` is under way."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        started = record_of(run_dir).get("attempts", 0) > attempts_seen if executor == "local" else True
        pids = trial_workers(proc.pid, executor)
        if started and pids:
            time.sleep(0.3)  # in the middle of it
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_trial_whose_worker_always_dies_is_failed_after_three_attempts(tmp_path, executor):
    cfg = write_config(tmp_path, "doomed", data={"limit": 3000}, train={"epochs": 3},
                       sweep={"parameters": {"model.hidden": [[16]]}})
    run_dir = tmp_path / "runs" / "doomed" / "hidden=16"
    proc = _start(cfg, tmp_path, executor)
    try:
        for attempt in range(3):
            if executor == "ray":  # the driver counts a lost task's attempt in its copy of the record
                assert wait_for(lambda: record_of(run_dir).get("attempts", 0) >= attempt, 60)
            assert _kill_training(proc, executor, run_dir, attempt), f"attempt {attempt + 1} never started"
            if executor == "ray":
                assert wait_for(lambda: record_of(run_dir).get("attempts", 0) > attempt or proc.poll() is not None, 60)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1, out + err
    record = record_of(run_dir)
    assert record["status"] == "failed" and "lost in 3 attempts" in record["error"], record
    assert record["attempts"] == 3 and record["ended"], record
    row = pd.read_csv(tmp_path / "runs" / "doomed" / "results.csv").iloc[0]
    assert row["status"] == "failed" and "lost in 3 attempts" in row["error"]


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_killed_worker_costs_one_attempt_and_the_others_go_on(tmp_path, executor):
    cfg = write_config(tmp_path, "grid", data={"limit": 2000}, train={"epochs": 2},
                       sweep={"parameters": {"train.lr": [0.001, 0.002, 0.003]}})
    proc = _start(cfg, tmp_path, executor, "--workers", "2", "--fuse", "off")  # a worker per trial
    try:
        assert wait_for(lambda: len(trial_workers(proc.pid, executor)) == 2 and any(
            record_of(d).get("status") == "running" for d in (tmp_path / "runs" / "grid").glob("lr=*"))
            if executor == "local" else len(trial_workers(proc.pid, executor)) >= 1, 120)
        victim = trial_workers(proc.pid, executor)[0]
        os.kill(victim, signal.SIGKILL)
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out + err
    df = pd.read_csv(tmp_path / "runs" / "grid" / "results.csv")
    assert sorted(df["trial_id"]) == ["lr=0.001", "lr=0.002", "lr=0.003"] and (df["status"] == "ok").all()
    attempts = sorted(record_of(tmp_path / "runs" / "grid" / t)["attempts"] for t in df["trial_id"])
    assert attempts == [1, 1, 2], attempts  # only the killed worker's trial ran again


def _mid_training(run_dir: Path, most: int) -> bool:
    """The trial is running with 1 to `most` epochs in its history.csv."""
    try:
        rows = len((run_dir / "history.csv").read_text().splitlines()) - 1
    except OSError:
        return False
    return record_of(run_dir).get("status") == "running" and 1 <= rows <= most


def _training_now(proc, executor: str, run_dirs) -> bool:
    """A trial is being trained: locally, one with 1 to 15 of its epochs in its run directory; on Ray,
    whose tasks train in their own temporary directories, a worker process running a `trial` task."""
    if executor == "local":
        return any(_mid_training(d, 15) for d in run_dirs())
    return bool(trial_workers(proc.pid, executor))


@pytest.mark.parametrize("executor", EXECUTORS)
def test_ctrl_c_records_every_started_trial_and_the_rerun_completes(tmp_path, executor):
    # The signal lands once a trial is ok and a 40-epoch one is being trained, in whichever order the
    # executor starts them: an event, not a clock, so the sweep is certainly mid-training (a sweep that
    # had finished would rightly say done).
    settings = [{"train.lr": lr, "train.epochs": epochs} for lr, epochs in
                ((0.001, 1), (0.002, 40), (0.003, 40), (0.004, 40))]
    cfg = write_config(tmp_path, "intr", data={"limit": 3000}, sweep={"method": "list", "settings": settings})
    proc = _start(cfg, tmp_path, executor, "--workers", "2", "--fuse", "off")  # trials that end one by one
    run_dirs = lambda: list((tmp_path / "runs" / "intr").glob("lr=*"))  # noqa: E731
    try:
        assert wait_for(lambda: any(record_of(d).get("status") == "ok" for d in run_dirs())
                        and _training_now(proc, executor, run_dirs), 180)
        workers = trial_workers(proc.pid, executor)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out + err
    assert "interrupted" in out and "run the same command again" in out and "Traceback" not in err, out + err
    statuses = [record_of(d).get("status") for d in (tmp_path / "runs" / "intr").glob("lr=*")]
    assert "running" not in statuses, statuses  # every started trial was stopped and recorded as such
    if executor == "local":
        assert workers and not any(Path(f"/proc/{pid}").exists() for pid in workers)  # no stray training
    again = subprocess.run(sweep_cmd(cfg, tmp_path, "--executor", executor, "--workers", "2", "--fuse", "off"), cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    df = pd.read_csv(tmp_path / "runs" / "intr" / "results.csv")
    assert len(df) == 4 and df["trial_id"].is_unique and (df["status"] == "ok").all()
