"""Resuming a sweep whose config was edited: finished work is kept, or the sweep says what changed.

Real sweeps through the real `sweep.py`: raising `sweep.repeats` renames every
first repeat (`dropout=0` becomes `dropout=0,rep=0`), and a tpe search whose
space was narrowed has finished trials it can no longer produce.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.layout import run_name
from sweeps import record_of, run_sweep, write_config


def started(run_dir) -> str:
    return record_of(run_dir)["started"]


@pytest.mark.slow
def test_raising_repeats_keeps_the_finished_trials_and_lowering_it_again_too(tmp_path):
    # Two values of one float key written as an int and a float: issue 20.1 through the command too.
    cfg = write_config(tmp_path, "rep", sweep={"parameters": {"model.dropout": [0, 0.2]}})
    runs, events = tmp_path / "runs" / "rep", tmp_path / "eventlog" / "rep"
    first = run_sweep(cfg, tmp_path)
    assert first.returncode == 0, first.stderr
    when = {t: started(runs / t) for t in ("dropout=0", "dropout=0.2")}

    dry = run_sweep(cfg, tmp_path, "--dry-run", "--set", "sweep.repeats=2")
    assert dry.returncode == 0 and "2 already finished, 2 to run" in dry.stdout, dry.stdout + dry.stderr
    assert "done   dropout=0,rep=0" in dry.stdout and "a real run renames them" in dry.stderr
    assert (runs / "dropout=0").is_dir()  # a dry run renames nothing

    second = run_sweep(cfg, tmp_path, "--set", "sweep.repeats=2")
    assert second.returncode == 0, second.stderr
    assert "kept 2 trial(s) named under another sweep.repeats" in second.stderr
    for t, at in when.items():
        new = runs / f"{t},rep=0"
        assert started(new) == at and record_of(new)["trial_id"] == f"{t},rep=0"  # kept, not trained again
        assert (events / run_name(f"{t},rep=0")).is_dir() and not (events / run_name(t)).exists()
        assert not (runs / t).exists()
    table = pd.read_csv(runs / "results.csv")
    assert sorted(table.trial_id) == ["dropout=0,rep=0", "dropout=0,rep=1", "dropout=0.2,rep=0", "dropout=0.2,rep=1"]
    assert set(table.status) == {"ok"} and "earlier plan" not in second.stdout

    third = run_sweep(cfg, tmp_path)  # back to one repeat: the first repeats are its trials again
    assert third.returncode == 0 and "(2 already finished, 0 to run)" in third.stdout, third.stdout + third.stderr
    assert [started(runs / t) for t in when] == list(when.values())


@pytest.mark.slow
def test_a_tpe_sweep_resumes_after_its_space_was_edited(tmp_path):
    space = {"method": "tpe", "trials": 1, "seed": 5000, "parameters": {"model.dropout": [0.2]}}  # a seed numpy refused
    cfg = write_config(tmp_path, "edited", sweep=space)
    assert run_sweep(cfg, tmp_path).returncode == 0
    cfg = write_config(tmp_path, "edited", sweep={**space, "trials": 2, "parameters": {"model.dropout": [0.3, 0.4]}})
    out = run_sweep(cfg, tmp_path)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert "1 trial(s) were tried outside the edited search space (e.g. dropout=0.2)" in out.stderr
    table = pd.read_csv(tmp_path / "runs" / "edited" / "results.csv")
    assert len(table) == 2 and set(table.status) == {"ok"}
    assert table["model.dropout"].iloc[0] == 0.2 and table["model.dropout"].iloc[1] in (0.3, 0.4)
    assert json.loads((tmp_path / "runs" / "edited" / "dropout=0.2" / "trial.json").read_text())["attempts"] == 1
