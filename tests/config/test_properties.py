"""Property tests: whatever `--dry-run` accepts trains, whatever it refuses is refused cleanly.

Hypothesis generates configs, sweep spaces and `--set` overrides the way
users write them: ints where floats go and the reverse, numpy scalars from a
notebook, values at and just past every bound, lists nested a level too deep,
mappings where a value belongs, spaces whose bounds hold no integer. The
properties:

- a refused config raises ConfigError and writes nothing, and the command
  (`sweep.py CONFIG --set ... --dry-run`, in-process) exits 2 for it with one
  `error:` message and 0 for every other;
- an accepted one gives every file a sweep writes before training (sweep.yaml,
  the HParams experiment, each trial's config, record and hparams), read back
  the same, and every setting a search can produce (tpe: asked of Optuna);
- an accepted one trains: its model builds, logs its hparams and takes one step.

Real sweeps of the same kinds of case: test_resume_edited.py, test_hostile_config.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings, strategies as st
from tensorboard.plugins.hparams import summary_v2

from harness import cli, hparams
from harness.analysis import results
from harness.config import plan as plan_mod, schema
from harness.config.validate import ConfigError, plain
from harness.files import atomic_write_text
from harness.layout import SweepPaths, run_name
from harness.record import TrialRecord
from harness.sweep import hparams_union
from harness.sweep.engine import load_config, run_sweep
from harness.search.strategies import strategy_for

# key -> (values that are valid alone, values that are not). Valid ones sit at the bounds where they can.
VALUES = {
    "data.validation": ([1, 64, 59_999], [0, 60_000, 1.5]),
    "data.limit": ([None, 1, 64], [0, -3]),
    "data.test_limit": ([None, 1, 10_000], [0, 10_001]),
    "data.scaling": (["unit", "binary"], ["other", 1]),
    "model.family": (["softmax", "mlp", "cnn"], ["rnn"]),
    "model.hidden": ([[8], [3, 2], 4], [[], [0], [8.5], [[8]], [True], {"a": 1}]),
    "model.activation": (["relu", "tanh", "sigmoid", "elu", "gelu"], ["swish"]),
    "model.dropout": ([0, 0.2, 0.999], [1, 1.0, -0.1, True, "0.2"]),
    "model.l2": ([0, 1e-3], [-1.0]),
    "model.kernel_init": (["glorot_uniform", "he_normal", "truncated_normal", "normal", "zeros"], ["ones"]),
    "model.init_stddev": ([0.1, 1e-6], [0, -1]),
    "model.bias_init": ([0, 0.1, -1.5], [float("nan")]),
    "model.conv_filters": ([[2], [1, 2], [1, 1, 1, 1]], [[], [1, 1, 1, 1, 1], [0]]),
    "model.kernel_size": ([1, 3, 28], [0, 29]),
    "model.dense_units": ([1, 4], [0]),
    "train.batch_size": ([1, 16, 64], [0, 2.5, 2**31]),
    "train.steps": ([None, 1, 2], [0]),
    "train.optimizer": (["sgd", "momentum", "adam", "rmsprop", "adagrad"], ["lamb"]),
    "train.lr": ([1e-3, 0.1, 1, 10.0], [0, -0.1, "1e-3", float("inf")]),
    "train.momentum": ([0, 0.9, 0.99], [1]),
    "train.nesterov": ([False, True], [1]),
    "train.beta_1": ([0, 0.9], [1]),
    "train.epsilon": ([1e-7, 1], [0]),
    "train.schedule.kind": (["constant", "exponential"], ["cosine"]),
    "train.schedule.decay_rate": ([0.5, 1], [0, 1.5]),
    "train.schedule.decay_steps": ([None, 1, 10], [0]),
    "train.schedule.decay_epochs": ([None, 0.5, 2], [0]),
    "train.ema": ([None, 0.9, 0.999], [0, 1]),
    "train.loss": (["crossentropy", "mse"], ["hinge"]),
    "train.seed": ([0, 7, 2**32 - 2], [2**32, -1]),
    "train.early_stopping.patience": ([0, 1], [-1]),
    "logging.every_steps": ([0, 1], [-1]),
    "logging.histograms_every": ([0, 1], [-1]),
    "logging.images": ([True, False], ["yes"]),
    "logging.checkpoint_steps": ([0, 1], [-1]),
    "logging.keep_model": (["final", "best", "weights", "none"], ["all"]),
    "logging.profile_steps": ([None], [[2, 1], [1]]),  # a real trace is test_summaries' (and process-wide)
    "description": (["", "a/b", "x y\nz", "名前"], ["\ud800", 3]),
}
SWEPT = [k for k in VALUES if k != "logging.profile_steps"]
NUMERIC = {k for k in SWEPT if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in VALUES[k][0])}
BOUNDS = [0, 1e-4, 0.1, 0.5, 0.999, 1, 1.5, 1.7, 2, 16, 64, -1]  # min and max of a distribution
TEXTS = ["0.1", "1e-3", "1.0e-3", "[8, 4]", "null", "{a: 1}", "true", "2", "abc", "[1, [2]]", ""]  # --set values
BASE = {"name": "prop", "data": {"limit": 64, "test_limit": 32, "validation": 64},
        "model": {"hidden": [8], "conv_filters": [2], "dense_units": 8},  # small, whatever the family
        "train": {"epochs": 1, "batch_size": 16}, "logging": {"histograms_every": 0, "images": False}}


def spelled(value, valid_only: bool = False) -> st.SearchStrategy:
    """`value` as it may arrive: as written, an int as a float (an integer key refuses it) or the reverse,
    a numpy scalar."""
    if isinstance(value, list):
        return st.tuples(*[spelled(v, valid_only) for v in value]).map(list)
    forms = [value]
    if isinstance(value, bool):
        forms.append(np.bool_(value))
    elif isinstance(value, int):
        forms += ([] if valid_only else [float(value)]) + [np.int64(value)] if abs(value) < 2**53 else []
    elif isinstance(value, float):
        forms += [np.float64(value)] + ([int(value)] if value.is_integer() else [])
    elif isinstance(value, str) and value.encode("utf-8", "surrogatepass") == value.encode("utf-8", "ignore"):
        forms.append(np.str_(value))
    return st.sampled_from(forms)


def value_of(key: str, valid_only: bool) -> st.SearchStrategy:
    good, bad = VALUES[key]
    pool = good if valid_only else good * 4 + bad  # mostly valid: refusals come from combining them too
    return st.sampled_from(pool).flatmap(lambda v: spelled(v, valid_only))


@st.composite
def parameter(draw, key: str, method: str, valid_only: bool):
    """One swept key, in any of the spellings the sweep section takes."""
    values = st.lists(value_of(key, valid_only), min_size=1, max_size=3)
    searched = method in ("random", "tpe") and key in NUMERIC
    kinds = ["list", "values", "value"] + (["distribution"] * 3 if searched else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "list":
        return draw(values)
    if kind == "values":
        return {"values": draw(values)}
    if kind == "value":
        return {"value": draw(value_of(key, valid_only))}
    dist = draw(st.sampled_from(["uniform", "log_uniform", "int_uniform"]))
    lo, hi = sorted(draw(st.lists(st.sampled_from(BOUNDS).flatmap(spelled), min_size=2, max_size=2)), key=float)
    if not valid_only and draw(st.booleans()):
        lo, hi = hi, lo
    return {"distribution": dist, "min": lo, "max": hi}


@st.composite
def sweep_section(draw, valid_only: bool, max_values: int = 3):
    method = draw(st.sampled_from(["grid", "random", "list", "tpe"]))
    keys = draw(st.lists(st.sampled_from(SWEPT), min_size=1, max_size=2, unique=True))
    section = {"method": method, "repeats": draw(st.sampled_from([1, 2] if valid_only else [1, 2, 1, 2, 0])),
               "samples": draw(st.sampled_from([1, 2, 3])), "trials": draw(st.sampled_from([1, 2])),
               "seed": draw(st.sampled_from([0, 5000, 2**31 - 1]))}
    if method == "list":
        section["settings"] = draw(st.lists(
            st.fixed_dictionaries({k: value_of(k, valid_only) for k in keys}), min_size=1, max_size=max_values))
    else:
        section["parameters"] = {k: draw(parameter(k, method, valid_only)) for k in keys}
    if draw(st.integers(0, 4)) == 0:
        section["pruner"] = {"kind": draw(st.sampled_from(["asha", "median"]))}
    if draw(st.booleans()):  # every key of the section, so every one is seen to survive sweep.yaml (issue 29.1)
        section["fuse"] = draw(st.sampled_from(["off", "auto", 1, 2, 8] + ([] if valid_only else ["x", 0])))
    if draw(st.integers(0, 3)) == 0:
        section["confirm"] = draw(st.sampled_from([True, {"top": 2, "max_repeats": 3}, {"min_delta": 0},
                                                   {"min_delta": 0.001, "alpha": 0.1}]
                                                  + ([] if valid_only else [{"top": 1}, "yes"])))
    if not valid_only and draw(st.integers(0, 9)) == 0:
        section["metric"] = {"name": "test_accuracy"}
    return section


@st.composite
def cases(draw, valid_only: bool = False):
    """(raw config, --set overrides)."""
    raw = json.loads(json.dumps(BASE))
    raw["model"]["family"] = draw(st.sampled_from(["mlp", "cnn", "softmax"]))
    for key in draw(st.lists(st.sampled_from(list(VALUES)), max_size=4, unique=True)):
        schema.set_path(raw, key, draw(value_of(key, valid_only)))
    if draw(st.integers(0, 3)) > 0:
        raw["sweep"] = draw(sweep_section(valid_only))
    overrides = [] if valid_only or draw(st.integers(0, 2)) else draw(st.lists(override(), min_size=1, max_size=2))
    return raw, overrides


@st.composite
def override(draw) -> str:
    """A `--set key=value` string: one of the key's own values as YAML, or any text."""
    key = draw(st.sampled_from([*VALUES, "sweep.repeats"]))
    good, bad = VALUES.get(key, ([1, 2], [0, 1.5]))
    text = draw(st.sampled_from([json.dumps(v) for v in good * 4 + bad] + TEXTS))
    return f"{key}={text}"


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def tried(planner: plan_mod.Planner, paths: SweepPaths, n: int = 2) -> list:
    """Trials the sweep would train first: planned ones (the first and last), or those the strategy asks for."""
    strategy = strategy_for(planner, paths)
    specs = strategy.planned()
    if specs:
        return specs[:1] + specs[-1:] if len(specs) > 1 else specs
    strategy.start([], [])
    return [spec for _ in range(n) if (spec := strategy.ask()) is not None]


def dry_run(raw: dict, overrides: list[str], root: Path):
    """run_sweep(dry_run=True) as `sweep.py --dry-run` calls it: (planner, paths) or the ConfigError."""
    try:
        outcome = run_sweep(raw, overrides=overrides, runs=root / "runs", eventlog=root / "eventlog", dry_run=True)
    except ConfigError as e:
        return e
    return outcome.plan.strategy.planner, outcome.paths


def command_status(raw: dict, overrides: list[str], root: Path) -> int:
    """`sweep.py CONFIG.yaml --set ... --dry-run` on the same config, in-process: its exit status (a
    traceback fails the test); it writes nothing but its YAML file either."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prop.yaml"
        try:
            path.write_text(yaml.safe_dump(plain(raw), allow_unicode=True, sort_keys=False))  # the same order: a random draw follows it
        except UnicodeEncodeError:  # (text a file cannot hold: the dict's own refusal covers it)
            return 2
        args = [str(path), "--runs", str(root / "runs"), "--eventlog", str(root / "eventlog"), "--dry-run", "--quiet"]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            status = cli.main(args + [a for o in overrides for a in ("--set", o)])
        assert status != 2 or err.getvalue().startswith("error: "), err.getvalue()
        assert files_under(root) == [] and files_under(Path(tmp)) == ["prop.yaml"]
        return status


ISSUE_CASES = [  # issue 20, points 1-6
    ({**BASE, "sweep": {"parameters": {"model.dropout": [0, 0.2], "train.lr": [1, 0.1]}}}, []),
    ({**BASE, "sweep": {"method": "tpe", "parameters": {"model.dropout": {"values": [0.1, 0.2, 5.0]}}}}, []),
    ({**BASE, "sweep": {"method": "random", "parameters": {
        "train.batch_size": {"distribution": "int_uniform", "min": 1.5, "max": 1.7}}}}, []),
    ({**BASE, "sweep": {"method": "list", "settings": [{"model.hidden": [[8], 4]}, {"model.dropout": {"a": 1}}]}}, []),
    ({**BASE, "sweep": {"parameters": {"train.lr": [0.1, -1]}}}, []),
    ({**BASE, "name": np.str_("numpy"), "sweep": {"parameters": {"train.lr": [np.float64(0.1), np.float32(0.5)],
                                                               "train.batch_size": [np.int64(16)]}}}, []),
    ({**BASE, "sweep": {"method": "tpe", "seed": 5000, "parameters": {
        "model.dropout": {"distribution": "uniform", "min": 0.9995, "max": 0.99999}}}}, []),
]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
@example(case=ISSUE_CASES[0]).via("issue 20.1")
@example(case=ISSUE_CASES[1]).via("issue 20.2")
@example(case=ISSUE_CASES[2]).via("issue 20.3")
@example(case=ISSUE_CASES[3]).via("issue 20.4")
@example(case=ISSUE_CASES[4]).via("issue 20.5")
@example(case=ISSUE_CASES[5]).via("issue 20.6")
@example(case=ISSUE_CASES[6]).via("rounding to 1.0 and a seed numpy refuses")
def test_dry_run_refuses_writing_nothing_or_accepts_what_a_sweep_then_writes(case):
    raw, overrides = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        got = dry_run(raw, overrides, root)
        assert files_under(root) == [], "a dry run (or a refused config) wrote something"
        assert command_status(raw, overrides, root) == (2 if isinstance(got, ConfigError) else 0)
        if isinstance(got, ConfigError):
            event("refused")
            assert got.problems and all(p.strip() for p in got.problems)
            return
        planner, paths = got
        cfg = planner.config
        event(f"accepted: {cfg.sweep.method}")
        # What the sweep writes before anything trains, and reads back on resume.
        hparams_union.register_sweep(paths.log_dir.parent, cfg)
        atomic_write_text(paths.config, yaml.safe_dump(load_config(cfg)[0], sort_keys=False))
        again = plan_mod.Planner(yaml.safe_load(paths.config.read_text()), "sweep.yaml")
        assert again.config == cfg
        with tempfile.TemporaryDirectory() as other:  # the Python API with the ExperimentConfig: the same plan
            same = dry_run(cfg, [], Path(other))
            assert not isinstance(same, ConfigError) and same[0].config == cfg
        records = []
        for spec in tried(planner, paths):
            assert schema.from_dict(yaml.safe_load(schema.trial_yaml(spec.config))) == spec.config
            ids = [s.trial_id for s in planner.specs(spec.settings)]
            assert [s.trial_id for s in again.specs(spec.settings)] == ids
            TrialRecord.of(spec).save(paths.trial(spec.trial_id).run_dir)
            records.append(TrialRecord.load(paths.trial(spec.trial_id).run_dir))
            summary_v2.hparams_pb(hparams.session_hparams(spec.config, spec.settings),
                                  trial_id=hparams.session_group(cfg.name, spec.group))
        results.write_csv(paths.run_dir, records)
        assert len(pd.read_csv(paths.results)) == len(records)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(valid_only=True))
@example(case=ISSUE_CASES[0]).via("issue 20.1")
@example(case=ISSUE_CASES[5]).via("issue 20.6")
def test_what_dry_run_accepts_builds_logs_its_hparams_and_trains_a_step(case, mnist):
    import tensorflow as tf

    from harness.training import models, optim, summaries

    raw, overrides = case
    with tempfile.TemporaryDirectory() as tmp:
        got = dry_run(raw, overrides, Path(tmp))
        if isinstance(got, ConfigError):
            event("refused: " + got.problems[0][:60])
            return  # (cross-key rules: the first property covers refusals)
        planner, paths = got
        spec = tried(planner, paths, n=1)[0]
        cfg = spec.config
        event(f"trained: {cfg.model.family}, {planner.config.sweep.method}")
        model = models.build(cfg.model, cfg.data.scaling)
        optim.compile_model(model, cfg.train, cfg.data.limit or 1000)
        writer = tf.summary.create_file_writer(tmp)
        summaries.write_start(writer, schema.trial_yaml(cfg), model, hparams.session_hparams(cfg, spec.settings),
                              hparams.session_group(cfg.name, spec.group), cfg.description)
        writer.close()
        n = min(cfg.train.batch_size, 64)
        loss, _ = model.train_on_batch(mnist.x_train[:n], mnist.y_train[:n])
        assert isinstance(float(loss), float)


@st.composite
def trial_ids(draw, keys: list[str]) -> str:
    settings = {k: draw(st.sampled_from(VALUES[k][0] + VALUES[k][1])) for k in keys}
    return plan_mod.trial_id(plan_mod.setting_id(settings), draw(st.integers(0, 12)), draw(st.sampled_from([1, 2])))


@given(data=st.data(), keys=st.lists(st.sampled_from(SWEPT), min_size=0, max_size=5, unique=True))
@settings(max_examples=300, deadline=None)
def test_distinct_trials_get_distinct_tensorboard_runs(data, keys):
    """layout.run_name shortens ids for TensorBoard's run selector: never two trials into one run."""
    a, b = data.draw(trial_ids(keys)), data.draw(trial_ids(keys))
    ra, rb = run_name(a), run_name(b)
    assert (ra == rb) == (a == b), (a, b, ra)
    assert run_name(ra) == ra and "/" not in ra and ra not in ("", ".", "..")


@pytest.mark.parametrize("fuse", ["off", 2, "auto"])
def test_sweep_fuse_survives_the_stored_sweep_yaml(fuse):
    """`--fuse off` once dropped out of runs/E/sweep.yaml, so `confirm runs/E` then raced fused (issue 29.1)."""
    raw = {"name": "f", "data": {"limit": 100}, "sweep": {"fuse": fuse, "parameters": {"train.lr": [0.001, 0.01]}}}
    cfg = plan_mod.Planner(raw).config
    stored = yaml.safe_load(yaml.safe_dump(load_config(cfg)[0], sort_keys=False))
    assert stored["sweep"]["fuse"] == fuse and plan_mod.Planner(stored, "sweep.yaml").config == cfg


NUMBERS = ["0.5", ".5", "-0.5", "-.5", "5", "05", "5.0", "+.5", "+0.5", "1e-3", "0.001", ".001", "1E-3", "-5", "0", "00"]


@given(st.dictionaries(st.sampled_from(SWEPT + ["description"]),
                       st.sampled_from(NUMBERS) | st.text(min_size=0, max_size=6) | st.integers(-10, 1000)
                       | st.floats(-10, 10, allow_nan=False), min_size=1, max_size=3),
       st.dictionaries(st.sampled_from(SWEPT + ["description"]),
                       st.sampled_from(NUMBERS) | st.text(min_size=0, max_size=6) | st.integers(-10, 1000)
                       | st.floats(-10, 10, allow_nan=False), min_size=1, max_size=3),
       st.integers(0, 3))
@settings(max_examples=400, deadline=None)
@example({"description": "0.5"}, {"description": ".5"}, 0).via("issue 29.7")
def test_run_names_of_distinct_ids_are_distinct_for_any_values(a, b, rep):
    """Numbers in every spelling and arbitrary strings: two settings' ids differ, so do their runs."""
    ia = plan_mod.trial_id(plan_mod.setting_id(a), rep, 2)
    ib = plan_mod.trial_id(plan_mod.setting_id(b), rep, 2)
    assert (run_name(ia) == run_name(ib)) == (ia == ib), (ia, ib, run_name(ia))


def test_a_sweep_whose_trials_would_share_a_run_is_refused_before_it_writes(tmp_path):
    raw = {"name": "desc", "data": {"limit": 100}, "sweep": {"parameters": {"description": ["0.5", ".5"]}}}
    assert not isinstance(dry_run(raw, [], tmp_path), ConfigError)  # distinct runs now: description.5, description=.5
    from harness.layout import shared_runs

    assert shared_runs(["a=1", "b=2", "a=1"]) == [] and shared_runs(["lr.5", "lr=0.5"]) == [("lr.5", "lr=0.5", "lr.5")]
