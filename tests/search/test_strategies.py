"""A search strategy added from outside the package: defined here, registered through the public API,
run as a real tiny sweep, killed with SIGKILL mid-sweep and resumed to the same trials."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import harness
from harness.config.plan import Planner
from harness.config.validate import ConfigError
from harness.search.strategies import strategy_for
from sweeps import ROOT, record_of, wait_for
from tiny import QUIET, TINY, merge


@harness.register_strategy("reverse-half")
class ReverseHalf(harness.Grid):
    """The grid's settings in reverse order, only the first half of them."""

    @classmethod
    def settings(cls, sweep):
        every = list(super().settings(sweep))[::-1]
        return every[: len(every) // 2]

    @classmethod
    def count(cls, sweep):
        return super().count(sweep) // 2


LRS = [0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
CONFIG = merge(TINY, QUIET, {"name": "toy", "sweep": {"method": "reverse-half", "parameters": {"train.lr": LRS},
                                                      "fuse": "off"}})  # killed after its first trial ends


def main(runs: str, eventlog: str) -> None:
    """The sweep, as a user's script would run it (called in a fresh interpreter by the test)."""
    outcome = harness.run_sweep(CONFIG, runs=runs, eventlog=eventlog)
    print(f"exit {outcome.exit_status}")


def _script(tmp_path: Path) -> subprocess.Popen:
    code = (f"import sys; sys.path[:0] = [{str(ROOT / 'tests' / 'search')!r}, {str(ROOT / 'tests')!r}, {str(ROOT)!r}]\n"
            "import test_strategies\n"
            "if __name__ == '__main__':\n"
            f"    test_strategies.main({str(tmp_path / 'runs')!r}, {str(tmp_path / 'ev')!r})\n")
    return subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_the_toy_strategy_plans_its_own_trials_and_is_validated_like_any_other():
    expected = [f"lr={lr!r}" for lr in LRS[::-1][:3]]
    assert [s.trial_id for s in strategy_for(Planner(CONFIG)).planned()] == expected
    with pytest.raises(ConfigError, match="reverse-half"):  # the registered name is among the allowed ones
        Planner(merge(CONFIG, {"sweep": {"method": "reverse-halve"}}))


@pytest.mark.slow
def test_a_registered_strategy_runs_is_killed_and_resumes_to_the_same_trials(tmp_path):
    expected = [f"lr={lr!r}" for lr in LRS[::-1][:3]]
    sweep_dir = tmp_path / "runs" / "toy"
    proc = _script(tmp_path)
    try:
        assert wait_for(lambda: record_of(sweep_dir / expected[0]).get("status") == "ok", timeout=240), \
            proc.stderr.read() if proc.poll() is not None else "no trial finished"
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, at once
    finally:
        proc.wait()
    first = record_of(sweep_dir / expected[0])

    resumed = _script(tmp_path)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0 and "exit 0" in out, err
    df = pd.read_csv(sweep_dir / "results.csv")
    assert df["trial_id"].tolist() == expected and (df["status"] == "ok").all()
    assert record_of(sweep_dir / expected[0]) == first  # finished before the kill: kept, not trained again
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")) == sorted(expected)
