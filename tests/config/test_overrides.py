"""`--set` on a sweep: swept keys, swept values, and the README's own examples where it puts them."""

import re
import shlex
import subprocess
import sys

import pytest

from harness.config import plan, schema
from harness.config.validate import ConfigError
from sweeps import ROOT

QUICK = ROOT / "experiments" / "quick.yaml"


def test_a_swept_key_is_refused_naming_the_override_that_works():
    with pytest.raises(ConfigError) as e:
        schema.load(QUICK, ["train.lr=0.05"])
    assert ("--set train.lr=0.05: train.lr is swept (sweep.parameters.train.lr: [0.001, 0.003]), so every trial "
            "would replace it; to train only this value, set the swept values instead: "
            "--set 'sweep.parameters.train.lr=[0.05]'") in str(e.value)


def test_swept_values_are_settable_from_the_command_line():
    raw = schema.load_raw(QUICK, ["sweep.parameters.model.dropout=[0.0, 0.5]", "sweep.parameters.train.lr=[0.05]"])
    specs = plan.plan(raw, "quick")[1]
    assert sorted({s.settings["model.dropout"] for s in specs}) == [0.0, 0.5]
    assert {s.settings["train.lr"] for s in specs} == {0.05} and len(specs) == 2 * 2 * 1 * 2
    assert "lr=0.05" in specs[0].trial_id


def readme_sweep_commands() -> list[str]:
    """The README's `sweep.py experiments/quick.yaml --set ...` lines."""
    text = (ROOT / "README.md").read_text()
    return [m[1] for m in re.finditer(r"^\.venv/bin/python (sweep\.py experiments/quick\.yaml --set .*)$", text, re.M)]


def test_the_readmes_examples_work_right_after_make_run(tmp_path):
    """Each README example with `--set`, run after quick.yaml's own sweep, must not collide with it."""
    commands = readme_sweep_commands()
    assert len(commands) >= 2
    cmd = lambda *a: subprocess.run([sys.executable, str(ROOT / "sweep.py"), *a, "--runs", str(tmp_path / "runs"),  # noqa: E731
                                     "--eventlog", str(tmp_path / "eventlog"), "--quiet"],
                                    capture_output=True, text=True, cwd=ROOT, timeout=300)
    # runs/quick as `make run` leaves it (one of its trials, to keep this short: the config is quick.yaml's)
    first = cmd(str(QUICK), "--set", "sweep.parameters.model.hidden=[[128]]", "--set", "sweep.parameters.model.dropout=[0.0]",
                "--set", "sweep.parameters.train.lr=[0.001]",
                "--set", "sweep.repeats=1", "--set", "data.limit=300", "--set", "data.test_limit=100",
                "--set", "train.epochs=1", "--set", "logging.histograms_every=0", "--set", "name=quick")
    assert first.returncode == 0, first.stderr
    for line in commands:
        args = shlex.split(line)[1:]
        out = cmd(str(ROOT / args[0]), *args[1:], "--dry-run")
        assert out.returncode == 0, f"{line}\n{out.stderr}"
