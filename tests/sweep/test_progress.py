"""The sweep's progress bar in a real terminal (a pseudo-terminal 80 columns wide), read as the screen shows it."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
from harness.record import TrialRecord
from harness.sweep.progress import SweepProgress
bar = SweepProgress(32, "best_val_accuracy", "maximize")
bar.started(); bar.started()
bar.finished(TrialRecord("hidden=512,dropout=0.2,lr=0.001,optimizer=rmsprop,rep=1", "quick", status="ok",
                         best_val_accuracy=0.97953))
bar.finished(TrialRecord("hidden=128,dropout=0.0,lr=0.01,optimizer=adam,rep=0", "quick", status="failed"))
bar.close()
"""


def screen_lines(columns: int) -> list[str]:
    """Each state the bar was drawn in, as a terminal `columns` wide shows it."""
    parent, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdin=child, stdout=child, stderr=child,
                            env={**env, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    os.close(child)
    out, deadline = b"", time.time() + 60
    while time.time() < deadline:
        try:
            chunk = os.read(parent, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=30)
    os.close(parent)
    assert proc.returncode == 0, out.decode(errors="replace")
    text = out.decode().replace("\x1b[A", "")
    return [part.rstrip() for line in text.split("\n") for part in line.split("\r") if "trials" in part]


def test_the_best_value_fits_80_columns():
    lines = screen_lines(80)
    assert lines and all(len(line) <= 80 for line in lines), lines
    last = lines[-1]
    assert "2/32 trials" in last and "best val acc 97.95%" in last and "0 running, 1 failed" in last


def test_a_wide_terminal_also_names_the_best_trial():
    last = screen_lines(160)[-1]
    assert "best val acc 97.95% (hidden=512,dropout=0.2,lr=0.001,optimizer=rmsprop,rep=1)" in last
