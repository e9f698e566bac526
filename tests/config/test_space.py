"""Search-space expansion and trial planning: counts, determinism, duplicates, ids."""

import math

import pytest

from harness.config import plan
from harness.config.schema import ConfigError, from_dict
from harness.config.space import expand


def sweep(**section):
    return from_dict({"sweep": section}).sweep


def test_grid_is_the_cartesian_product_in_listed_order():
    settings = expand(sweep(parameters={"model.hidden": [[64], [128, 64]], "train.lr": [0.1, 0.01, 0.001]}))
    assert len(settings) == 6
    assert settings[0] == {"model.hidden": (64,), "train.lr": 0.1}
    assert settings[-1] == {"model.hidden": (128, 64), "train.lr": 0.001}


def test_duplicate_settings_run_once():
    assert len(expand(sweep(parameters={"train.lr": [0.1, 0.1, 0.01]}))) == 2
    # Random draws from a small list repeat; only distinct settings remain.
    assert len(expand(sweep(method="random", samples=50, parameters={"train.optimizer": ["adam", "sgd"]}))) == 2


def test_explicit_list_of_settings():
    sw = sweep(method="list", settings=[{"train.lr": 0.1, "model.hidden": [64]}, {"train.lr": 0.01},
                                        {"train.lr": 0.1, "model.hidden": [64]}])
    assert expand(sw) == [{"train.lr": 0.1, "model.hidden": (64,)}, {"train.lr": 0.01}]
    assert [p.path for p in sw.parameters] == ["train.lr", "model.hidden"]
    assert sw.parameters[0].values == (0.1, 0.01)
    with pytest.raises(ConfigError, match="method 'list' goes with a non-empty 'settings'"):
        from_dict({"sweep": {"settings": [{"train.lr": 0.1}]}})


def test_random_is_deterministic_for_a_seed_and_respects_distributions():
    spec = dict(method="random", samples=40, parameters={
        "train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-1},
        "model.dropout": {"distribution": "uniform", "min": 0.0, "max": 0.5},
        "train.batch_size": {"distribution": "int_uniform", "min": 32, "max": 64},
    })
    first, again, other = expand(sweep(**spec)), expand(sweep(**spec)), expand(sweep(**spec, seed=1))
    assert first == again and first != other and len(first) == 40
    lrs = [s["train.lr"] for s in first]
    assert all(1e-4 <= lr <= 1e-1 for lr in lrs)
    # log-uniform: about as many draws below 1e-2.5 as above
    assert 10 <= sum(math.log10(lr) < -2.5 for lr in lrs) <= 30
    assert all(0 <= s["model.dropout"] <= 0.5 for s in first)
    assert all(isinstance(s["train.batch_size"], int) and 32 <= s["train.batch_size"] <= 64 for s in first)


@pytest.mark.parametrize("section, message", [
    ({"parameters": {"train.lr": {"distribution": "log_uniform", "min": 0, "max": 1}}}, r"0 < min < max"),
    ({"parameters": {"train.lr": {"distribution": "normal", "min": 0, "max": 1}}}, r"must be one of uniform, log_uniform, int_uniform"),
    ({"parameters": {"train.lr": {"distribution": "uniform", "min": 0.1, "max": 0.5}}}, r"method = 'grid': every parameter needs a list"),
    ({"parameters": {"train.lr": {"valeus": [1]}}}, r"valeus: unknown key; did you mean 'values'"),
    ({"repeats": 0}, r"sweep\.repeats = 0: must be >= 1"),
    ({"metric": {"name": "accuracy"}}, r"unknown metric"),
])
def test_bad_sweep_sections_are_refused(section, message):
    with pytest.raises(ConfigError, match=message):
        from_dict({"sweep": section})


def test_plan_validates_every_setting_before_any_training():
    raw = {"sweep": {"parameters": {"model.dropout": [0.1, 1.5], "model.hiden": [[8]]}}}
    with pytest.raises(ConfigError, match=r"sweep\.parameters\.model\.hiden: unknown key; did you mean 'hidden'"):
        plan.plan(raw)
    with pytest.raises(ConfigError, match=r"model\.dropout = 1\.5: must be >= 0 and < 1 \(setting dropout=1\.5\)"):
        plan.plan({"sweep": {"parameters": {"model.dropout": [0.1, 1.5]}}})
    with pytest.raises(ConfigError, match=r"sweep\.parameters\.name: cannot be swept"):
        plan.plan({"sweep": {"parameters": {"name": ["a", "b"]}}})


def test_trial_ids_are_readable_stable_and_seed_repeats():
    raw = {"train": {"seed": 10}, "sweep": {"repeats": 2, "parameters": {
        "model.hidden": [[256], [512, 256]], "model.dropout": [0.2], "train.lr": [0.01]}}}
    _, specs = plan.plan(raw)
    ids = [s.trial_id for s in specs]
    assert ids[0] == "hidden=256,dropout=0.2,lr=0.01,rep=0"
    assert ids[3] == "hidden=512-256,dropout=0.2,lr=0.01,rep=1"
    assert [s.config.train.seed for s in specs] == [10, 11, 10, 11]
    assert specs[3].group == "hidden=512-256,dropout=0.2,lr=0.01" and specs[3].config.model.hidden == (512, 256)
    assert [s.trial_id for s in plan.plan(raw)[1]] == ids  # same settings, same ids
    assert plan.plan({})[1][0].trial_id == "base"


def test_long_ids_are_shortened_with_a_hash():
    settings = {f"model.{k}": 0.123456789 for k in ("dropout", "l2", "init_stddev", "bias_init")}
    settings.update({f"train.{k}": 0.123456789 for k in ("lr", "momentum", "beta_1", "beta_2", "rho")})
    sid = plan.setting_id(settings)
    assert len(sid) <= plan.MAX_ID_LENGTH and "~" in sid
    assert sid != plan.setting_id({**settings, "train.rho": 0.5})


def tpe(**parameters):
    return {"sweep": {"method": "tpe", "parameters": parameters}}


@pytest.mark.parametrize("raw, message", [
    (tpe(**{"model.dropout": {"values": [0.1, 0.2, 5.0]}}), r"model\.dropout = 5\.0: must be >= 0 and < 1"),
    (tpe(**{"model.dropout": {"distribution": "uniform", "min": 0.5, "max": 1.0}}), r"model\.dropout = 1\.0: must be"),
    (tpe(**{"train.batch_size": {"distribution": "uniform", "min": 32, "max": 64}}),
     r"train\.batch_size = 32\.0: must be an integer"),
    (tpe(**{"logging.keep_model": ["final", "best"], "train.ema": [None, 0.99]}),  # fine alone, not together
     r"keep_model = 'best' with train\.ema: .*\(setting keep_model=best,ema=0\.99\)"),
    ({"sweep": {"method": "random", "parameters": {"train.batch_size": {"distribution": "int_uniform", "min": 1.5,
                                                                        "max": 1.7}}}},
     r"int_uniform needs an integer between min and max"),
    (tpe(**{"train.batch_size": {"distribution": "int_uniform", "min": 1.5, "max": 1.7}}), r"needs an integer between"),
    (tpe(**{"train.lr": {"distribution": "uniform", "min": float("nan"), "max": 1}}), r"must be finite numbers"),
    ({"sweep": {"method": "list", "settings": [{"model.dropout": {"a": 1}}]}},
     r"sweep\.settings\[0\]\.model\.dropout = \{'a': 1\}: a mapping is not a value of one key"),
    ({"sweep": {"parameters": {"model.hidden": [[8], {"a": 1}]}}}, r"model\.hidden\[1\] = \{'a': 1\}: a mapping"),
    ({"sweep": {"method": "list", "settings": [{"model.hidden": [[8], 4]}]}},
     r"model\.hidden\[0\] = \[8\]: must be an integer"),
    ({"sweep": {"repeats": "1e-3"}}, r"sweep\.repeats = '1e-3': must be an integer"),
    ({"train": {"lr": "1e-3"}}, r"YAML reads 1e-3 as text; write it with a dot"),
    ({"description": "\ud800"}, r"must be text that UTF-8 can encode"),
])
def test_every_value_a_search_can_produce_is_validated_up_front(raw, message):
    with pytest.raises(ConfigError, match=message):
        plan.plan(raw)


def test_a_searched_space_is_validated_in_every_combination_of_its_values_and_bounds():
    from harness.config.space import corners

    space = from_dict(tpe(**{"model.dropout": [0.1, 0.2], "train.lr": {"distribution": "log_uniform", "min": 1e-3,
                                                                       "max": 1}})).sweep
    assert [tuple(c.values()) for c in corners(space)] == [(0.1, 1e-3), (0.1, 1.0), (0.2, 1e-3), (0.2, 1.0)]
    bounded = from_dict(tpe(**{"train.batch_size": {"distribution": "int_uniform", "min": 1.5, "max": 4.5}})).sweep
    assert [c["train.batch_size"] for c in corners(bounded)] == [2, 4]  # the integers it can draw


def test_samples_stay_within_their_bounds_after_rounding():
    import random

    from harness.config.space import Parameter

    p = Parameter("model.dropout", distribution="uniform", min=0.9995, max=0.99999)
    assert float(f"{0.99998:.4g}") == 1.0 and p.rounded(0.99998) == 0.99999
    rng = random.Random(0)
    assert all(p.min <= p.sample(rng) <= p.max for _ in range(200))


def test_numbers_of_mixed_types_and_numpy_values_plan_as_yaml_would():
    import numpy as np

    from harness.hparams import domain

    cfg, specs = plan.plan({"name": np.str_("np"), "train": {"epochs": np.int64(2)},
                            "sweep": {"parameters": {"model.dropout": [0, np.float64(0.2)], "train.lr": [1, 0.1]}}})
    assert type(cfg.name) is str and type(specs[0].config.train.epochs) is int
    assert [s.trial_id for s in specs][:2] == ["dropout=0,lr=1", "dropout=0,lr=0.1"]
    assert [type(v) for v in specs[-1].settings.values()] == [float, float]
    assert domain(cfg.sweep.parameters[0]).values == [0.0, 0.2]  # one dtype for TensorBoard's Discrete


def test_the_hparams_domain_holds_the_values_trials_log():
    from harness.hparams import domain

    cfg = plan.plan({"sweep": {"method": "random", "parameters": {
        "model.hidden": [128, [256, 128]], "train.batch_size": {"distribution": "int_uniform", "min": 8, "max": 16},
        "model.conv_filters": {"distribution": "int_uniform", "min": 1, "max": 4}}}})[0]
    hidden, batch, filters = (domain(p) for p in cfg.sweep.parameters)
    assert sorted(hidden.values) == ["128", "256,128"]  # as a trial logs hidden (128,): text, like 256,128
    assert (batch.min_value, batch.max_value) == (8, 16) and filters is None  # a list key's values: not known ahead
