"""What a trial costs (training/cost.py): the same alone and fused, timed once per kind, in results.csv."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.config.plan import TrialSpec
from harness.layout import Workspace
from harness.training import cost
from harness.training.fusion.trials import run_group
from harness.training.trial import run_trial
from sweeps import run_sweep, write_config
from tiny import QUIET


@pytest.fixture
def calibrations(monkeypatch):
    """The kinds calibrated, in order, as cost.calibrate is called."""
    seen = []
    timed = cost.calibrate

    def counting(cfg, x, y):
        seen.append(list(cfg.model.hidden))
        return timed(cfg, x, y)
    monkeypatch.setattr(cost, "calibrate", counting)
    return seen


def test_a_setting_costs_the_same_alone_and_in_a_fused_group_and_its_kind_is_timed_once(
        tiny_config, mnist, tmp_path, calibrations):
    workspace = Workspace(tmp_path / "runs", tmp_path / "eventlog")

    def spec(seed, hidden=(128,)):
        return TrialSpec(f"h{hidden[0]},rep={seed}", f"h{hidden[0]}", {}, seed,
                         tiny_config(**QUIET, model={"hidden": list(hidden)}, train={"seed": seed}))
    alone = run_trial(spec(0), workspace, mnist)
    fused = run_group([spec(seed) for seed in range(1, 5)], workspace, mnist)
    assert [r.fused_size for r in [alone, *fused]] == [1, 4, 4, 4, 4]
    assert all(r.status == "ok" and r.steps == alone.steps == 10 for r in fused), [r.traceback for r in fused]
    for r in fused:
        assert r.cost_seconds == pytest.approx(alone.cost_seconds, rel=0.1)
        assert r.train_flops == alone.train_flops == 6 * (784 * 128 + 128 * 10) * 1000  # 1000 images, once
    assert calibrations == [[128]]  # the first trial timed its kind; the other four read it back

    other = run_trial(spec(0, hidden=(32,)), workspace, mnist)  # another kind: timed for itself
    assert calibrations == [[128], [32]] and 0 < other.cost_seconds
    kept = json.loads(workspace.sweep("tiny").cost_calibration.read_text())
    assert len(kept) == 2 and all(k["seconds_per_step"] > 0 and len(k["round_cpu_seconds"]) == cost.ROUNDS
                                  for k in kept.values())
    assert alone.cost_seconds == pytest.approx(alone.steps * kept[cost.shared_key(spec(0).config)]["seconds_per_step"])

    workspace.sweep("tiny").cost_calibration.write_text("[1, 2")  # damaged: timed again and replaced
    assert run_trial(spec(5), workspace, mnist).cost_seconds > 0 and calibrations == [[128], [32], [128]]
    assert len(json.loads(workspace.sweep("tiny").cost_calibration.read_text())) == 1


def test_a_sweep_writes_cost_seconds_and_train_flops_to_results_csv_and_reuses_its_calibration(tmp_path):
    cfg = write_config(tmp_path, "cs", train={"epochs": 1}, sweep={"parameters": {"train.lr": [0.001, 0.01]}})
    first = run_sweep(cfg, tmp_path, "--fuse", "off")
    assert first.returncode == 0, first.stderr
    path = tmp_path / "runs" / "cs" / "cost_calibration.json"
    timed = path.read_text()
    df = pd.read_csv(tmp_path / "runs" / "cs" / "results.csv")
    assert {"cost_seconds", "train_flops"} <= set(df.columns) and df["cost_seconds"].gt(0).all()
    assert (df["cost_seconds"] / df["steps"]).nunique() == 1  # one figure per kind, shared
    cfg = write_config(tmp_path, "cs", train={"epochs": 1}, sweep={"parameters": {"train.lr": [0.001, 0.01, 0.1]}})
    again = run_sweep(cfg, tmp_path, "--fuse", "off")  # the sweep resumed with one more setting to train
    assert again.returncode == 0, again.stderr
    assert len(pd.read_csv(tmp_path / "runs" / "cs" / "results.csv")["cost_seconds"].dropna()) == 3
    assert path.read_text() == timed  # the same kind: the sweep's calibration reused, not timed again
