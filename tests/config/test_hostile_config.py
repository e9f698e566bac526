"""Hostile configs: values that would become paths, search spaces too big to expand, out-of-range seeds."""

import subprocess
import time

import pytest

from harness.config import plan
from harness.config.schema import ConfigError, from_dict
from harness.config.space import MAX_TRIALS, count
from sweeps import sweep_cmd, write_config

ESCAPES = ["../../escape", "/tmp/abs", ".", "..", "a/b", "a\nb", "", " x", "-rf", ".hidden", "a\\b", "x" * 101,
           "a b", "名前"]


@pytest.mark.parametrize("name", ESCAPES, ids=repr)
def test_a_name_must_be_one_safe_directory_name(name):
    with pytest.raises(ConfigError, match=r"name = .*: must be one directory name"):
        from_dict({"name": name})


@pytest.mark.parametrize("name", ["quick", "deep-sweep", "mlp_v2.1", "a+b", "X" * 100])
def test_ordinary_names_pass(name):
    assert from_dict({"name": name}).name == name


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("how", [["--set", "name=../x"], ["--set", "name=/tmp/x"], ["--set", "name=."],
                                 ["--set", 'name="a\\nb"']], ids=["dotdot", "absolute", "dot", "newline"])
def test_the_sweep_command_refuses_an_escaping_name_and_writes_nothing(tmp_path, how):
    cfg = write_config(tmp_path, "ok")
    before = files_under(tmp_path)
    out = subprocess.run(sweep_cmd(cfg, tmp_path, *how), capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 2 and "must be one directory name" in out.stderr and "Traceback" not in out.stderr
    assert files_under(tmp_path) == before


def test_a_config_file_whose_name_is_not_safe_says_how_to_name_it(tmp_path):
    cfg = write_config(tmp_path, "my sweep")
    out = subprocess.run(sweep_cmd(cfg, tmp_path, "--dry-run"), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "name = 'my sweep'" in out.stderr and "--set name=NAME" in out.stderr


@pytest.mark.parametrize("values", [["../../up", "/etc/passwd"], ["..", "."], ["a\nb", "c\x00d"]], ids=repr)
def test_swept_strings_never_make_a_trial_id_that_leaves_the_sweep(values):
    _, specs = plan.plan({"description": "x", "sweep": {"parameters": {"description": values}}})
    for spec in specs:
        assert "/" not in spec.trial_id and "\n" not in spec.trial_id and "\x00" not in spec.trial_id
        assert spec.trial_id.startswith("description=") and spec.trial_id not in (".", "..")


def test_settings_that_would_share_a_trial_id_are_refused():
    with pytest.raises(ConfigError, match=r"would share the trial id 'description=a_b'"):
        plan.plan({"sweep": {"parameters": {"description": ["a/b", "a_b"]}}})
    with pytest.raises(ConfigError, match=r"would share the trial id"):
        plan.plan({"sweep": {"method": "list", "settings": [{"description": "x y"}, {"description": "x\ny"}]}})


HUGE = {  # section -> the count the refusal must name
    "grid": ({"parameters": {f"train.{k}": list(range(1, 11)) for k in
                             ("epochs", "batch_size", "every_steps")} |
              {f"model.{k}": list(range(1, 11)) for k in ("kernel_size", "dense_units")} |
              {"data.validation": list(range(1, 11)), "data.limit": list(range(1, 11))}}, "10,000,000 trials"),
    "samples": ({"method": "random", "samples": 1_000_000_000,
                 "parameters": {"train.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1}}},
                "1,000,000,000 trials"),
    "repeats": ({"repeats": 2_000_000_000}, "2,000,000,000 trials"),
    "grid-x-repeats": ({"repeats": 101, "parameters": {"train.epochs": list(range(1, 101))}}, "10,100 trials"),
    "list-x-repeats": ({"method": "list", "repeats": 5000, "settings": [{"train.lr": 0.1}, {"train.lr": 0.2},
                                                                         {"train.lr": 0.3}]}, "15,000 trials"),
}


@pytest.mark.parametrize("section,words", HUGE.values(), ids=HUGE.keys())
def test_a_huge_sweep_is_refused_at_once_with_its_count(tmp_path, section, words):
    cfg = write_config(tmp_path, "huge", sweep=section)
    start = time.monotonic()
    out = subprocess.run(sweep_cmd(cfg, tmp_path, "--dry-run"), capture_output=True, text=True, timeout=10)
    took = time.monotonic() - start
    assert out.returncode == 2 and words in out.stderr and f"more than the {MAX_TRIALS:,}" in out.stderr, out.stderr
    assert took < 5, took  # ~1 s measured (Python and imports); the old code never returned
    assert "Traceback" not in out.stderr


def test_counting_does_not_expand():
    sweep = from_dict({"sweep": {"parameters": {"train.epochs": [1, 2, 3], "train.lr": [0.1, 0.2]}}}).sweep
    assert count(sweep) == 6
    big = {f"model.hidden": [[i] for i in range(1, 101)], "train.epochs": list(range(1, 101))}
    with pytest.raises(ConfigError, match=r"10,000 settings x 2 repeats = 20,000 trials"):
        from_dict({"sweep": {"parameters": big, "repeats": 2}})
    assert len(plan.plan({"sweep": {"parameters": {"train.epochs": list(range(1, 101))}, "repeats": 100}})[1]) == 10_000


def test_seeds_are_bounded_to_32_bits_with_their_repeats():
    with pytest.raises(ConfigError, match=r"train\.seed = 4294967296: must be >= 0 and <= 4294967295"):
        from_dict({"train": {"seed": 2**32}})
    assert from_dict({"train": {"seed": 2**32 - 1}}).train.seed == 2**32 - 1
    with pytest.raises(ConfigError, match=r"train\.seed = 4294967295: with 3 repeats .* must be <= 4294967293"):
        plan.plan({"train": {"seed": 2**32 - 1}, "sweep": {"repeats": 3}})
    assert len(plan.plan({"train": {"seed": 2**32 - 3}, "sweep": {"repeats": 3}})[1]) == 3


@pytest.mark.parametrize("raw,words", [
    ({"train": {"batch_size": 10**30}}, r"train\.batch_size = 10+: must be >= 1 and <= 2147483647"),
    ({"train": {"lr": 10**400}}, r"train\.lr = inf: must be a finite number"),
    ({"sweep": {"samples": 10**30, "method": "random"}}, r"sweep\.samples = 10+: must be >= 1 and <= 2147483647"),
])
def test_absurd_numbers_are_refused_not_crashed_on(raw, words):
    with pytest.raises(ConfigError, match=words):
        from_dict(raw)


def test_unknown_metric_message_reads_well():
    with pytest.raises(ConfigError) as err:
        from_dict({"sweep": {"metric": {"name": "accuracy"}}})
    assert err.value.problems == ["sweep.metric.name = 'accuracy': unknown metric; did you mean 'test_accuracy'?"]


def alias_bomb(levels: int = 10) -> str:
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines).replace("a", "x") + f"\nmodel: {{hidden: *x{levels - 1}}}\n"


@pytest.mark.parametrize("text,words", [
    (alias_bomb(), "values once YAML aliases are expanded; at most 1,000,000"),
    ("model: {hidden: " + "[" * 50_000 + "]" * 50_000 + "}\n", "YAML nested too deeply"),
    ("sweep: {parameters: {model.dropout: [" + "[" * 200 + "]" * 200 + "]}}\n", "YAML nested more than 32 levels"),
    ("model: &m {hidden: [1], x: *m}\n", "a YAML alias refers to the value that contains it"),
    ("sweep: {method: list, settings: [{train.lr: 0.1, ../x: 1}]}\n", "'../x': not a dotted config path"),
], ids=["alias-bomb", "deep", "deep-swept-value", "cycle", "path-param"])
def test_hostile_yaml_is_refused_at_once(tmp_path, text, words):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    start = time.monotonic()
    out = subprocess.run(sweep_cmd(cfg, tmp_path, "--dry-run"), capture_output=True, text=True, timeout=10)
    assert time.monotonic() - start < 5
    assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr, out.stderr


@pytest.mark.parametrize("section,words", [
    ({"parameters": {"train.lr": [0.1, -1]}}, "train.lr = -1.0: must be > 0 (setting lr=-1)"),
    ({"method": "tpe", "parameters": {"model.dropout": {"values": [0.1, 5.0]}}}, "model.dropout = 5.0: must be"),
    ({"method": "random", "parameters": {"train.batch_size": {"distribution": "int_uniform", "min": 1.5, "max": 1.7}}},
     "int_uniform needs an integer between min and max"),
], ids=["grid-value", "tpe-value", "no-integer"])
def test_a_refused_sweep_writes_nothing_not_even_its_lock(tmp_path, section, words):
    cfg = write_config(tmp_path, "refused", sweep=section)
    before = files_under(tmp_path)
    out = subprocess.run(sweep_cmd(cfg, tmp_path), capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert files_under(tmp_path) == before  # no runs/refused/.sweep.lock, no eventlog/
