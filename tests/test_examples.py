"""Every example a user is shown runs: the commands in each `--help` and the harness commands in the
README's shell blocks, as written, on a tiny `make run` (quick.yaml on 300 images, 1 epoch, its race),
so that none goes stale. Commands that would train a full sweep run with --dry-run; serve is started
and stopped; tensorboard and make are left to their own tests."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sweeps import ROOT

pytestmark = pytest.mark.slow  # a tiny quick.yaml sweep with its race, then ~40 commands

COMMANDS = ["sweep", "confirm", "compare", "predict", "serve", "hparams", "plot"]
TRAINS = ("sweep.py", "confirm")  # examples that would train: planned only (--dry-run)


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> Path:
    """A folder holding runs/quick and eventlog/ of quick.yaml made tiny, digits to predict, and the other
    sweeps the examples name (copies of quick)."""
    root = tmp_path_factory.mktemp("examples")
    out = subprocess.run([sys.executable, str(ROOT / "sweep.py"), str(ROOT / "experiments" / "quick.yaml"), "--quiet",
                          "--set", "data.limit=300", "--set", "data.test_limit=200", "--set", "train.epochs=1",
                          "--workers", "2"], cwd=root, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    for name in ("quick-v2", "a", "b", "adaptive"):
        shutil.copytree(root / "runs" / "quick", root / "runs" / name)
    (root / "fresh").mkdir()
    for folder in (root, root / "fresh"):
        (folder / "experiments").symlink_to(ROOT / "experiments")
    digits = root / "digits"
    digits.mkdir()
    for i, path in enumerate([root / "photo.jpg", root / "scan.png", digits / "one.png", digits / "two.png"]):
        Image.fromarray((np.random.default_rng(i).random((40, 40)) * 255).astype(np.uint8)).convert("RGB").save(path)
    return root


def _examples(text: str, prefix: str) -> list[str]:
    """The command lines of `text` that start (after spaces) with `prefix`, without their # comments."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(prefix):
            found.append(line.split("  #")[0].split(" #")[0].strip())
    return found


def _help(command: str) -> str:
    args = [str(ROOT / "sweep.py")] if command == "sweep" else ["-m", "harness", command]
    out = subprocess.run([sys.executable, *args, "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _help_examples() -> list[str]:
    return [e for c in COMMANDS for e in _examples(_help(c), "python ")]


def _readme_examples() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [e.replace(".venv/bin/python", "python", 1) for b in blocks for e in _examples(b, ".venv/bin/python ")]


def _argv(example: str) -> list[str]:
    argv = shlex.split(example)
    assert argv[0] == "python", example
    if any(t in argv[1:4] for t in TRAINS) and "--dry-run" not in argv:
        argv.append("--dry-run")
    return [sys.executable, *[str(ROOT / "sweep.py") if a == "sweep.py" else a for a in argv[1:]]]


def _run(example: str, root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    example, _, into = example.partition(" > ")  # the shell's redirection
    argv = _argv(example)
    if argv[1].endswith("sweep.py"):  # a new sweep's plan: in a folder of its own (runs/quick is the tiny one)
        root = root / "fresh"
    argv = [a for pattern in argv for a in (sorted(str(p.relative_to(root)) for p in root.glob(pattern))
                                            if "*" in pattern else [pattern])]  # the shell's glob
    if argv[1:4] == ["-m", "harness", "serve"]:
        proc = subprocess.Popen([*argv, "--port", "0"], cwd=root, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()  # its address, once it listens
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        return subprocess.CompletedProcess(argv, proc.returncode, line + out, err)
    out = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    if into:
        (root / into.strip()).write_text(out.stdout)
    return out


@pytest.mark.parametrize("where", ["help", "README"])
def test_every_example_shown_runs(quick, where):
    examples = _help_examples() if where == "help" else _readme_examples()
    assert len(examples) >= (20 if where == "help" else 12), examples  # the parsers found them
    failed = []
    for example in examples:
        out = _run(example, quick)
        if out.returncode != 0 or "Traceback" in out.stderr:
            failed.append(f"{example}\n  exit {out.returncode}: {(out.stderr or out.stdout).strip()[-300:]}")
    assert not failed, "examples that do not run:\n" + "\n".join(failed)
