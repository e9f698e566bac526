"""The README's `run_sweep` snippet pasted into a plain script, with and without the `__main__` guard."""

import subprocess
import sys
import textwrap

from sweeps import ROOT

SNIPPET = """\
from harness import run_sweep
config = {"name": "api-quick", "data": {"limit": 500, "test_limit": 100}, "train": {"epochs": 1},
          "logging": {"histograms_every": 0, "images": False}, "sweep": {"parameters": {"train.lr": [0.01, 0.1]}}}
"""


def run(tmp_path, body: str) -> subprocess.CompletedProcess:
    script = tmp_path / "my_sweep.py"
    script.write_text(SNIPPET + textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2"})


def test_an_unguarded_script_stops_at_once_saying_what_to_write(tmp_path):
    out = run(tmp_path, """\
        outcome = run_sweep(config, workers=2)
        print("exit status", outcome.exit_status)
    """)
    assert out.returncode == 1 and "exit status" not in out.stdout
    assert f"run_sweep was called at the top level of {tmp_path / 'my_sweep.py'} (line 4)" in out.stderr
    assert 'if __name__ == "__main__":\n        outcome = run_sweep(...)' in out.stderr
    assert out.stderr.count("Traceback") == 1 and "another sweep is running" not in out.stderr
    assert not (tmp_path / "runs" / "api-quick").exists()  # stopped before anything was planned on disk


def test_a_guarded_script_runs_its_sweep(tmp_path):
    out = run(tmp_path, """\
        def main():
            return run_sweep(config, workers=2)

        if __name__ == "__main__":
            print("exit status", main().exit_status)
    """)
    assert out.returncode == 0 and "exit status 0" in out.stdout, out.stderr
    assert len(list((tmp_path / "runs" / "api-quick").glob("*/trial.json"))) == 2
