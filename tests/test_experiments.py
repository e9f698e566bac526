"""Every config in experiments/ stays valid and trains: a tiny run of each, so none can rot."""

from pathlib import Path

import pytest

from harness.config import schema as config
from harness.config import plan
from harness.training.trial import run_trial

EXPERIMENTS = sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*.yaml"))
TINY = ["data.limit=200", "data.test_limit=100", "train.epochs=1", "train.steps=null",
        "logging.histograms_every=1", "logging.images=false"]


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
    _, specs = plan.plan(config.load_raw(path, TINY), str(path))  # every trial of the sweep validated
    spec = specs[0]
    record = run_trial(spec.config, spec.trial_id, settings=spec.settings, runs=tmp_path, eventlog=tmp_path / "ev",
                       mnist=mnist)
    assert record.status == "ok", record.traceback
