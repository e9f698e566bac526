"""Helpers for tests that run the real `sweep.py` in a subprocess."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tiny import QUIET, TINY, merge

ROOT = Path(__file__).resolve().parents[1]

# Both executors; Ray's runs are the slow tier (make test-all), skipped where Ray is not installed.
EXECUTORS = ["local", pytest.param("ray", marks=[pytest.mark.slow, pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="Ray is not installed (optional): pip install -r requirements-ray.txt")])]


def write_config(tmp_path: Path, name: str, **sections) -> Path:
    body = merge(TINY, QUIET, sections)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def sweep_cmd(config: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "sweep.py"), str(config), "--runs", str(tmp_path / "runs"),
            "--eventlog", str(tmp_path / "eventlog"), "--quiet", *extra]


def run_sweep(config: Path, tmp_path: Path, *extra: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(sweep_cmd(config, tmp_path, *extra), capture_output=True, text=True, timeout=timeout,
                          cwd=tmp_path)


def wait_for(predicate, timeout: float = 180.0) -> bool:
    """Poll `predicate` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def record_of(run_dir: Path) -> dict:
    """A trial's trial.json as it is now ({} while there is none or it cannot be read)."""
    try:
        return json.loads((run_dir / "trial.json").read_text())
    except (OSError, ValueError):
        return {}


def descendants(ancestor: int) -> dict[int, bytes]:
    """The processes descending from `ancestor`: pid -> command line (from /proc)."""
    parent, cmdline = {}, {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmdline[int(d.name)] = (d / "cmdline").read_bytes()
            except (OSError, ValueError, IndexError):
                pass

    def descends(pid):
        while pid > 1:
            pid = parent.get(pid, 0)
            if pid == ancestor:
                return True
        return False

    return {pid: cmd for pid, cmd in cmdline.items() if descends(pid)}
