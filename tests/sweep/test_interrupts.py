"""Ctrl-C in a training worker stops its trial as pending, wherever in TensorFlow it lands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("push", [1, 3])
def test_ctrl_c_while_fit_traces_leaves_the_trial_pending_not_failed(tmp_path, push):
    """Python's default handler raised Ctrl-C inside TensorFlow's graph stack: the trial came out failed with
    'Nesting violated for default stack of FuncGraph objects' (the flake of the Ctrl-C sweep test)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), str(HERE.parent)])}
    out = subprocess.run([sys.executable, str(HERE / "ctrl_c_mid_trace.py"), str(tmp_path), str(push)],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
