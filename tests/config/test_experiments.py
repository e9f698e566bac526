"""Every config in experiments/ stays valid and trains: a tiny run of each, so none can rot."""

import json
from pathlib import Path

import pytest

from harness.config import schema as config
from harness.config import plan
from harness.config.space import corners
from harness.training.trial import run_trial
from harness.layout import Workspace
from harness.search.strategies import strategy_for
from tiny import TINY, merge

EXPERIMENTS = sorted((Path(__file__).resolve().parents[2] / "experiments").glob("*.yaml"))
# The tiny config as --set overrides (experiments that count steps train whole epochs instead).
OVERRIDES = [f"{k}={json.dumps(v)}" for k, v in config.flatten(merge(TINY, {"train": {"steps": None}, "logging": {"images": False}})).items()]


def test_the_tutorials_and_sweeps_are_all_there():
    names = {p.stem for p in EXPERIMENTS}
    assert {"quick", "softmax", "mlp-ema", "tape-mlp", "tb-mlp", "keras-mlp", "cnn", "deep-sweep"} <= names


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_plans_and_trains(path, mnist, tmp_path):
    header = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    assert header and ("minute" in " ".join(header) or "second" in " ".join(header))  # what it is, how long
    planner = plan.Planner(config.load_raw(path, OVERRIDES), str(path))
    specs = strategy_for(planner).planned()  # every trial validated (a tpe space at every value and bound)
    spec = specs[0] if specs else planner.specs(corners(planner.config.sweep)[0])[0]
    record = run_trial(spec, Workspace(tmp_path, tmp_path / "ev"), mnist)
    assert record.status == "ok", record.traceback
