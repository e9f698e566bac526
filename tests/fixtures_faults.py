"""A finished real sweep to damage, the ways a file gets damaged, and small disks that fill or refuse writes.

A plugin of tests/conftest.py: its fixtures are shared by every test that names them (each trained once a run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.config import plan
from harness.sweep.hparams_union import register_sweep
from sweeps import ROOT, sweep_cmd, write_config

NAME, TRIALS = "E", ("hidden=8", "hidden=16")


def _replace(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _wrong_kind(path: Path) -> None:
    was_dir = path.is_dir()
    _replace(path)
    if was_dir:
        path.write_text("a file where a directory was")
    else:
        path.mkdir()
        (path / "inside").write_text("a directory where a file was")


def _unreadable(path: Path) -> None:
    """Root reads any file whatever its mode: for root, a loop of symbolic links (ELOOP) instead."""
    if os.geteuid() == 0:
        _replace(path)
        path.symlink_to(path.name)
    else:
        path.chmod(0)


FAULTS = {
    "garbage": lambda p: (_replace(p), p.write_bytes(b"\xff\xfe\x00 not what belongs here \x00\x9c" * 3)),
    "empty": lambda p: (_replace(p), p.write_bytes(b"")),
    "wrong-kind": _wrong_kind,
    "unreadable": _unreadable,
}


@pytest.fixture(scope="session")
def finished_sweep(tmp_path_factory) -> Path:
    """A folder with E.yaml, runs/ and eventlog/ of a real finished 2-trial sweep E, and the HParams
    experiment of another sweep O in the same eventlog/ (~30 s on 2 cores)."""
    root = tmp_path_factory.mktemp("finished")
    cfg = write_config(root, NAME, sweep={"parameters": {"model.hidden": [[8], [16]]}})
    out = subprocess.run(sweep_cmd(cfg, root, "--workers", "2"), capture_output=True, text=True, timeout=600,
                         cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    register_sweep(root / "eventlog", plan.plan({"name": "O", "sweep": {"parameters": {"train.lr": [0.1, 0.2]}}})[0])
    assert all((root / "runs" / NAME / t / "model.keras").is_file() for t in TRIALS)
    return root


@pytest.fixture
def sweep_copy(finished_sweep, tmp_path) -> Path:
    """A private copy of `finished_sweep`, to damage."""
    return Path(shutil.copytree(finished_sweep, tmp_path / "w", symlinks=True))


def results_kept(root: Path) -> dict[str, bytes]:
    """The files that hold finished results: each trial's record and model."""
    return {str(p.relative_to(root)): p.read_bytes() for t in TRIALS for n in ("trial.json", "model.keras")
            if (p := root / "runs" / NAME / t / n).is_file() and not p.is_symlink()}


def mounts_allowed() -> bool:
    """Whether this user may mount a small tmpfs in a private mount namespace (`unshare -rm`)."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$0"', "/tmp"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


SMALL_DISK = 'mount -t tmpfs -o size=1m tmpfs "$0"'  # room to start, none for a model
FULL_DISK = SMALL_DISK + ' && { dd if=/dev/zero of="$0/filler" bs=64k 2>/dev/null; true; }'
READ_ONLY = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0"'


def on_disk(cmd: list[str], mount: str, target: Path, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """`cmd` run in a private mount namespace where `mount` (shell commands; `target` is $0) was done first."""
    return subprocess.run(["unshare", "-rm", "sh", "-c", f'{mount} && exec "$@"', str(target), *cmd], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)
