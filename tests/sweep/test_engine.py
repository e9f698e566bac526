"""The sweep engine as a library: run_sweep from Python, its plan, retries, and what the main process imports."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from harness import run_sweep
from harness.config import schema
from harness.config.validate import ConfigError
from sweeps import ROOT
from tiny import QUIET, TINY, merge

GRID = {"parameters": {"model.hidden": [[16], [32]], "train.lr": [0.001, 0.01]}}


def test_a_sweep_run_from_python_returns_its_records_and_table(tmp_path):
    raw = merge(TINY, QUIET, {"name": "api", "sweep": GRID})
    outcome = run_sweep(raw, runs=tmp_path / "runs", eventlog=tmp_path / "eventlog", workers=2)
    assert outcome.exit_status == 0 and not outcome.interrupted
    df = outcome.table()
    assert sorted(df["trial_id"]) == ["hidden=16,lr=0.001", "hidden=16,lr=0.01", "hidden=32,lr=0.001",
                                      "hidden=32,lr=0.01"]
    assert (df["status"] == "ok").all() and df["test_accuracy"].between(0.2, 1).all()  # 1 epoch of 1,000 images
    on_disk = pd.read_csv(outcome.paths.results)
    assert on_disk["test_accuracy"].tolist() == df["test_accuracy"].tolist()

    # The same sweep as a dataclass: the same plan, all of it already done; overrides apply as --set does.
    cfg = schema.from_dict(raw)
    again = run_sweep(cfg, runs=tmp_path / "runs", eventlog=tmp_path / "eventlog", dry_run=True)
    assert [s.trial_id for s in again.plan.specs] == [s.trial_id for s in outcome.plan.specs] and not again.plan.todo
    with pytest.raises(ConfigError, match=r"train.batch_size: 100 -> 50"):
        run_sweep(cfg, overrides=["train.batch_size=50"], runs=tmp_path / "runs", eventlog=tmp_path / "eventlog")


def test_retry_failed_trains_failed_trials_again_and_keeps_the_rest(tmp_path):
    raw = merge(TINY, QUIET, {"name": "retry", "train": {"optimizer": "sgd"}, "sweep": {"method": "list", "settings": [
        {"train.lr": 0.1, "model.hidden": [16]},
        {"train.lr": 0.1, "model.hidden": [100000000]},  # 313 GB of weights: fails
    ]}})
    where = dict(runs=tmp_path / "runs", eventlog=tmp_path / "eventlog")
    first = run_sweep(raw, **where)
    assert first.exit_status == 1
    by_id = {r.trial_id: r for r in first.records}
    ok, bad = by_id["lr=0.1,hidden=16"], by_id["lr=0.1,hidden=100000000"]
    assert ok.status == "ok" and bad.status == "failed"

    plain = run_sweep(raw, **where)  # failures are results: a plain re-run keeps them
    assert {r.trial_id: r for r in plain.records} == by_id and not plain.plan.todo

    retried = run_sweep(raw, retry_failed=True, **where)
    assert [s.trial_id for s in retried.plan.todo] == [bad.trial_id]
    again = {r.trial_id: r for r in retried.records}
    assert again[ok.trial_id] == ok  # untouched
    assert again[bad.trial_id].status == "failed" and again[bad.trial_id].attempts == 1  # started over, logs too
    assert again[bad.trial_id].started >= bad.started
    assert len(pd.read_csv(tmp_path / "runs" / "retry" / "results.csv")) == 2


def test_the_main_process_stages_never_import_tensorflow():
    code = ("import sys; import harness.config.plan, harness.sweep.engine, harness.sweep.scheduler, "
            "harness.sweep.local, harness.hparams, harness.analysis.compare, harness.analysis.plots, harness.cli; "
            "heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]; print(heavy); sys.exit(bool(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_ray_ships_the_whole_package_to_a_cluster():
    from harness.sweep.ray_tasks import shipped_package

    root = shipped_package()
    assert root.name == "harness" and (root / "__init__.py").exists()
    for stage in ("config/plan.py", "training/trial.py", "sweep/engine.py", "analysis/results.py", "layout.py"):
        assert (root / stage).exists(), stage
