"""The HParams dashboard as a user sees it: the real `tensorboard` server over an eventlog of three sweeps.

`tensorboard --logdir eventlog` must show one dashboard over every sweep, and
`--logdir eventlog/NAME` that sweep's trials under the same columns and metrics (fixtures_eventlog.py).
"""

import shutil
import subprocess
import sys

import pandas as pd
import pytest

from fixtures_eventlog import (COLUMNS, SETTINGS, SWEEPS, TRIALS, experiment, experiment_configs, loaded, post,
                               session_groups, tensorboards, wait_for)
from harness.config import plan
from harness.layout import run_name
from harness.metrics import dashboard_order
from harness.sweep.hparams_union import register_sweep
from sweeps import ROOT


def hparams(exp: dict) -> dict:
    return {h["name"]: h.get("domainDiscrete") or h.get("domainInterval") for h in exp["hparamInfos"]}


# The metrics as the dashboard lists them: the sweeps' own (best validation accuracy) first, test last (no
# pruned epoch: none of the three sweeps prunes).
DASHBOARD_METRICS = [m.tag for m in dashboard_order("best_val_accuracy", pruned=False)]


def test_the_eventlog_shows_the_union_of_the_sweeps_columns(tb_eventlog, three_sweeps):
    configs = experiment_configs(three_sweeps / "eventlog")
    assert sorted(c.split("/")[0] for c in configs) == sorted(SWEEPS)  # one copy in each sweep's folder
    assert len({c.SerializeToString() for c in configs.values()}) == 1  # all equal: nothing to pick among
    exp = experiment(tb_eventlog)
    got = hparams(exp)
    assert set(got) == COLUMNS
    assert got["sweep"] == ["bin", "mlp", "soft"]
    assert got["train.lr"] == [0.01, 0.1, 0.5]  # mlp's 0.01 and 0.1, bin's 0.1 and 0.5, soft's 0.5
    assert got["model.hidden"] == ["16", "32", "128"]
    assert [m["name"]["tag"] for m in exp["metricInfos"]] == DASHBOARD_METRICS
    assert DASHBOARD_METRICS[0] == "selection/best_val_accuracy" and DASHBOARD_METRICS[-1] == "test/loss"


def test_each_session_has_its_sweep_and_groups_never_mix_two(tb_eventlog, three_sweeps):
    groups = session_groups(tb_eventlog, experiment(tb_eventlog))["sessionGroups"]
    assert len(groups) == sum(SETTINGS.values())
    for name in SWEEPS:
        mine = [g for g in groups if g["hparams"]["sweep"] == name]
        assert len(mine) == SETTINGS[name]
        for g in mine:
            assert g["name"].endswith(f" ({name})")  # the Trial ID column: the setting, then its sweep
            assert all(s["name"].startswith(f"{name}/") for s in g["sessions"])  # run names: the sweep first
    by_name = {g["name"]: g for g in groups}
    # The one setting both sweeps share: two groups, not one averaging three trials.
    assert len(by_name["h16,lr.1 (mlp)"]["sessions"]) == 1
    assert len(by_name["h16,lr.1 (bin)"]["sessions"]) == 2

    sessions = {s["name"]: s for g in groups for s in g["sessions"]}
    assert len(sessions) == sum(TRIALS.values())
    for name in SWEEPS:
        for _, row in pd.read_csv(three_sweeps / "runs" / name / "results.csv").iterrows():
            session = sessions[f"{name}/{run_name(row['trial_id'])}"]
            assert session["status"] == "STATUS_SUCCESS"
            value = {m["name"]["tag"]: m["value"] for m in session["metricValues"]}["test/accuracy"]
            assert value == pytest.approx(row["test_accuracy"], rel=1e-6)


@pytest.mark.parametrize("column, allowed, expected", [
    ("sweep", ["bin"], {"h16,lr.1 (bin)", "h16,lr.5 (bin)"}),
    ("train.lr", [0.5], {"h16,lr.5 (bin)", "base (soft)"}),  # values from two sweeps' domains
])
def test_filtering_on_the_union_keeps_the_right_rows(tb_eventlog, column, allowed, expected):
    cols = [{"hparam": h["name"], **({"filterDiscrete": allowed} if h["name"] == column else {})}
            for h in experiment(tb_eventlog)["hparamInfos"]]
    answer = post(tb_eventlog, "session_groups", {"experimentName": "", "startIndex": 0, "sliceSize": 100,
                                           "allowedStatuses": ["STATUS_SUCCESS"], "colParams": cols})
    assert {g["name"] for g in answer["sessionGroups"]} == expected


def test_a_running_tensorboard_follows_a_sweep_added_then_deleted(tb_eventlog, three_sweeps):
    eventlog = three_sweeps / "eventlog"
    register_sweep(eventlog, plan.plan({"name": "extra", "sweep": {"parameters": {"model.dropout": [0.0, 0.3]}}})[0])
    wait_for(lambda: "extra" in hparams(experiment(tb_eventlog))["sweep"], 30)
    assert hparams(experiment(tb_eventlog))["model.dropout"] == [0.0, 0.3]  # soft's 0.0 and extra's values

    shutil.rmtree(eventlog / "extra")
    done = subprocess.run([sys.executable, "-m", "harness", "hparams", "--eventlog", str(eventlog)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    wait_for(lambda: hparams(experiment(tb_eventlog))["sweep"] == ["bin", "mlp", "soft"], 30)
    assert "model.dropout" not in hparams(experiment(tb_eventlog))  # soft's 0.0 alone: one value, no column
    assert session_groups(tb_eventlog, experiment(tb_eventlog))["totalSize"] == sum(SETTINGS.values())


@pytest.fixture(scope="module")
def one_each(three_sweeps):
    """A server per sweep on eventlog/NAME, started at once (each takes seconds to come up)."""
    with tensorboards(*(three_sweeps / "eventlog" / name for name in SWEEPS)) as bases:
        yield {name: loaded(base, SETTINGS[name]) for name, base in zip(SWEEPS, bases)}


@pytest.mark.parametrize("name", list(SWEEPS))
def test_one_sweeps_folder_shows_its_trials_under_the_same_columns_and_metrics(one_each, name):
    """Not a dashboard inferred from the scalars: that would list 40 metrics by name, layer statistics too."""
    base = one_each[name]
    exp = experiment(base)
    assert set(hparams(exp)) == COLUMNS
    assert [m["name"]["tag"] for m in exp["metricInfos"]] == DASHBOARD_METRICS
    groups = session_groups(base, exp)["sessionGroups"]
    assert len(groups) == SETTINGS[name] and sum(len(g["sessions"]) for g in groups) == TRIALS[name]
    assert all(g["hparams"]["sweep"] == name and g["name"].endswith(f" ({name})") for g in groups)
