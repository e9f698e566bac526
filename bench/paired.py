"""Whole commands timed in turn, round after round: the loop the overhead benchmarks share.

Every round runs each command once, in the same order, in a fresh folder, so
drift in the machine's load hits every side alike; each round gives each side
a ratio to the baseline side, and the median of those ratios is reported,
beside the ratio of CPU time (user + system of the command and every process
it waited for), which other work on a shared machine disturbs much less.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and every process it started and waited for)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def disk_bytes(*dirs: Path) -> int:
    return sum(p.stat().st_size for d in dirs if d.exists() for p in d.rglob("*") if p.is_file())


@dataclass
class Rounds:
    """Each side's wall and CPU seconds, one entry per round; the last round's folder."""

    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    last: Path | None = None

    def median(self, side: str) -> float:
        return statistics.median(self.wall[side])

    def ratio(self, side: str, base: str, cpu: bool = False) -> float:
        """Median over the rounds of side / base (wall time, or CPU time)."""
        times = self.cpu if cpu else self.wall
        return statistics.median(a / b for a, b in zip(times[side], times[base]))

    def ratios(self, side: str, base: str) -> list[float]:
        return [a / b for a, b in zip(self.wall[side], self.wall[base])]


def alternate(commands: Callable[[Path], dict[str, list[str]]], rounds: int, folder: Path, label: str) -> Rounds:
    """Run `commands(round_folder)` (side -> command, in order) `rounds` times, printing each round."""
    out = Rounds()
    for i in range(rounds):
        work = folder / f"{label}-{i}"
        work.mkdir(parents=True)
        for side, cmd in commands(work).items():
            wall, cpu = timed(cmd, work)
            out.wall.setdefault(side, []).append(wall)
            out.cpu.setdefault(side, []).append(cpu)
        out.last = work
        print(f"  {label} round {i + 1}: " + ", ".join(f"{s} {out.wall[s][-1]:.1f} s ({out.cpu[s][-1]:.1f} s CPU)"
                                                      for s in out.wall) + f"; load {os.getloadavg()[0]:.2f}",
              flush=True)
    return out
