#!/usr/bin/env python3
"""What a sweep costs its user beyond training: the harness vs a bare Keras loop, whole processes.

bench/overhead.py times one trial inside one warm process; a user waits for
more: process and worker start-up, per-trial instrumentation, files, plots.
This times, from outside and by wall clock, two commands doing the same ML work:
    harness   python sweep.py CONFIG --workers 1      (default instrumentation: scalars,
              per-layer histograms every epoch, graph, text, images, HParams, checkpoints,
              records, results.csv, curves and sweep plots)
    bare      one Python process: load MNIST, then per trial build, compile, `fit` with
              validation, predict the test set, save the model (same models, data, seeds)
Runs alternate (harness, bare, harness, bare, ...) so drift in machine load hits
both; each pair gives a ratio and the median ratio is reported per case, beside
the ratio of CPU time (user + system, every process included), which other
work on a shared machine disturbs much less than wall time:
    sweep     8 trials, MLP 784-128-10, 2 epochs each, full data   (the common case)
    long      1 trial, MLP 784-512-10, 6 epochs, full data
With --quick: 4 trials of 1 epoch on 10,000 images, and 2 epochs of the long model
on 20,000 (about a minute and a half on 2 cores).

    .venv/bin/python bench/sweep_overhead.py [--pairs 3] [--cases sweep long] [--quick]

Goals: sweep at most 1.05x bare, long at most 1.03x.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from paired import alternate, disk_bytes  # noqa: E402

LRS = [0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.006, 0.008]
CASES = {
    "sweep": {"model": {"hidden": [128]}, "train": {"epochs": 2}, "lrs": LRS,
              "title": "8 trials, MLP 784-128-10, 2 epochs each, full data"},
    "long": {"model": {"hidden": [512]}, "train": {"epochs": 6}, "lrs": None,
             "title": "1 trial, MLP 784-512-10, 6 epochs, full data"},
}
QUICK = {
    "sweep": {"model": {"hidden": [128]}, "train": {"epochs": 1}, "data": {"limit": 10000}, "lrs": LRS[:4],
              "title": "4 trials, MLP 784-128-10, 1 epoch each, 10,000 images"},
    "long": {"model": {"hidden": [512]}, "train": {"epochs": 2}, "data": {"limit": 20000}, "lrs": None,
             "title": "1 trial, MLP 784-512-10, 2 epochs, 20,000 images"},
}


def write_config(path: Path, name: str, case: dict) -> Path:
    body = {"name": name, **{k: v for k, v in case.items() if k in ("model", "train", "data")}}
    if case["lrs"]:
        body["sweep"] = {"parameters": {"train.lr": case["lrs"]}}
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def bare_loop(config: Path, out: Path) -> None:
    """The bare side, in its own process: what a user would write with Keras alone."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from harness.config import plan, schema
    from bare_keras import train_bare
    from harness.training import data

    _, specs = plan.plan(schema.load_raw(config), str(config))
    mnist = data.load()
    out.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        train_bare(spec.config, mnist, out / f"{spec.trial_id}.keras")


def run_case(name: str, case: dict, pairs: int, tmp: Path) -> dict:
    config = write_config(tmp / f"{name}.yaml", f"cost-{name}", case)
    trials = len(case["lrs"] or [None])
    rounds = alternate(lambda work: {
        "harness": [sys.executable, str(ROOT / "sweep.py"), str(config), "--workers", "1",
                    "--runs", str(work / "runs"), "--eventlog", str(work / "eventlog"), "--quiet"],
        "bare": [sys.executable, __file__, "--bare", str(config), str(work / "bare")]}, pairs, tmp, name)
    return {"title": case["title"], "trials": trials, "harness": rounds.median("harness"),
            "bare": rounds.median("bare"), "ratio": rounds.ratio("harness", "bare"),
            "ratios": rounds.ratios("harness", "bare"), "cpu_ratio": rounds.ratio("harness", "bare", cpu=True),
            "bytes_per_trial": disk_bytes(rounds.last / "runs", rounds.last / "eventlog") / trials}


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--bare":
        bare_loop(Path(sys.argv[2]), Path(sys.argv[3]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=3, help="harness/bare pairs per case (median reported; default 3)")
    p.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    p.add_argument("--quick", action="store_true", help="smaller cases, for a fast check")
    args = p.parse_args()
    cases = QUICK if args.quick else CASES
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="sweep-overhead-") as tmp:
        for name in args.cases:
            rows.append(run_case(name, cases[name], args.pairs, Path(tmp)))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print(f"| work | harness s (median of {args.pairs}) | bare Keras s | ratio (median of pairs) "
          "| pair ratios | CPU-time ratio | disk per trial |")
    print("|---|---:|---:|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['title']} | {r['harness']:.1f} | {r['bare']:.1f} | {r['ratio']:.3f} "
              f"| {' '.join(f'{x:.3f}' for x in r['ratios'])} | {r['cpu_ratio']:.3f} "
              f"| {r['bytes_per_trial'] / 1e6:.2f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
