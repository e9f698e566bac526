"""Every command a user is told to type works where they are told to type it."""

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from sweeps import ROOT, run_sweep, write_config

BASE_PYTHON = Path(sys.base_prefix) / "bin" / "python3"  # the interpreter the .venv was made from


def lacks_pandas(python: Path) -> bool:
    return python.exists() and subprocess.run([str(python), "-c", "import pandas"], capture_output=True).returncode != 0


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A real one-trial sweep run from its own folder, and what it printed."""
    tmp = tmp_path_factory.mktemp("hints")
    out = run_sweep(write_config(tmp, "hints"), tmp)
    assert out.returncode == 0, out.stderr
    return tmp, out.stdout


@pytest.mark.skipif(not lacks_pandas(BASE_PYTHON), reason=f"needs a Python without pandas ({BASE_PYTHON})")
def test_python_m_harness_with_a_bare_python_reruns_under_the_venv(finished):
    tmp, _ = finished
    out = subprocess.run([str(BASE_PYTHON), "-m", "harness", "compare", str(tmp / "runs" / "hints")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert "ModuleNotFoundError" not in out.stderr and "best validation accuracy" in out.stdout


def test_the_closing_hints_work_where_they_are_printed(finished):
    tmp, stdout = finished
    hints = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in stdout.splitlines()
             if line.startswith("  ") and ":" in line}
    for what in ("compare", "plots"):
        command = shlex.split(hints[what].split("   ")[0])
        out = subprocess.run(command, capture_output=True, text=True, cwd=tmp, timeout=300)
        assert out.returncode == 0, f"{hints[what]}\n{out.stderr}"
    tensorboard = shlex.split(hints["TensorBoard"].split("   ")[0])
    assert Path(tensorboard[0]).exists() or (tmp / tensorboard[0]).exists()  # the venv's, not a bare name off PATH
    assert tensorboard[1:] == ["--logdir", str(tmp / "eventlog")]


def test_a_dry_run_piped_into_head_ends_quietly(tmp_path):
    cfg = write_config(tmp_path, "piped", sweep={"parameters": {"train.lr": [0.001 * (i + 1) for i in range(400)]}})
    out = subprocess.run(f"{shlex.quote(sys.executable)} sweep.py {shlex.quote(str(cfg))} --dry-run "
                         f"--runs {shlex.quote(str(tmp_path / 'runs'))} | head -n 2", shell=True, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert len(out.stdout.splitlines()) == 2 and out.stdout.startswith("piped: 400 trials"), out.stdout
    assert out.stderr == "", out.stderr  # no BrokenPipeError traceback, no "Exception ignored" at exit
