"""The README's sample outputs, printed by the code itself, never pasted.

    python docs/samples.py                 # rewrite each sample block of README.md from docs/samples/
    python docs/samples.py --from runs     # first copy the sweep files from real runs (runs/quick, ...)
    python docs/samples.py --check         # exit 1 if a block differs from what the code prints now

Each sample is a fenced block right after a marker line `<!-- sample: COMMAND -->` in README.md, and
holds what `python -m harness COMMAND` prints at 80 columns over the files in docs/samples/ (a sweep's
results.csv, confirm.json and sweep.yaml, all that `compare` reads). tests/test_examples.py runs
--check, so a change to what compare prints fails until the README shows it.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SAMPLES = ROOT / "docs" / "samples"
FILES = ("results.csv", "confirm.json", "sweep.yaml")
MARKER = re.compile(r"(<!-- sample: (.+?) -->\n```\n)(.*?)(```)", re.S)


def output(command: str) -> str:
    """What `python -m harness COMMAND` prints at 80 columns, run in docs/samples/."""
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "harness", *shlex.split(command)], cwd=SAMPLES, env=env,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"python -m harness {command}: exit {done.returncode}\n{done.stderr}")
    return done.stdout


def rendered(readme: str) -> str:
    """`readme` with every sample block holding what its command prints now."""
    return MARKER.sub(lambda m: m.group(1) + output(m.group(2)) + m.group(4), readme)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--from", dest="runs", type=Path, help="copy each sample sweep's files from this runs/ first")
    p.add_argument("--check", action="store_true", help="only compare: exit 1 if README.md is stale")
    args = p.parse_args(argv)
    if args.runs:
        for sweep in (d for d in SAMPLES.iterdir() if d.is_dir()):
            if not (args.runs / sweep.name).is_dir():  # make run makes runs/quick alone
                print(f"{args.runs / sweep.name}: not there, docs/samples/{sweep.name} kept", file=sys.stderr)
                continue
            for name in FILES:
                shutil.copy(args.runs / sweep.name / name, sweep / name)
    text = README.read_text()
    new = rendered(text)
    if args.check:
        if new != text:
            print("README.md's samples are stale: run python docs/samples.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    print(f"{README}: {len(MARKER.findall(text))} sample(s) written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
