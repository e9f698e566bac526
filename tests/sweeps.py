"""Helpers for tests that run the real `sweep.py` in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tiny import QUIET, TINY, merge

ROOT = Path(__file__).resolve().parents[1]


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
