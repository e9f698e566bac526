"""Config messages a newcomer reads: the closest key suggested, a bad swept value said once."""

import pytest

from harness.config import plan, schema
from harness.config.validate import ConfigError
from sweeps import ROOT

QUICK = ROOT / "experiments" / "quick.yaml"


@pytest.mark.parametrize("typo,meant", [("metrc", "metric"), ("prunr", "pruner"), ("paramters", "parameters"),
                                        ("methd", "method")])
def test_a_mistyped_sweep_key_suggests_the_closest_one(typo, meant):
    with pytest.raises(ConfigError) as e:
        schema.load(QUICK, [f"sweep.{typo}=1"])
    assert e.value.problems == [f"sweep.{typo}: unknown key; did you mean {meant!r}?"]


def test_a_bad_swept_value_is_said_once_with_the_settings_it_affects():
    raw = schema.load_raw(QUICK, ["sweep.parameters.train.lr=[-1, 0.01]", "sweep.parameters.model.dropout=[0.0, 1.5]"])
    with pytest.raises(ConfigError) as e:
        plan.plan(raw, "quick.yaml")
    assert e.value.problems == [
        "train.lr = -1.0: must be > 0 (in 4 settings, e.g. hidden=64,dropout=0.0,lr=-1)",
        "model.dropout = 1.5: must be >= 0 and < 1 (in 4 settings, e.g. hidden=64,dropout=1.5,lr=-1)"]
