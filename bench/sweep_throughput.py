#!/usr/bin/env python3
"""Sweep throughput: the same 8 trials serially, on 2 local workers, and on a local Ray.

Each mode runs the real command line (`sweep.py CONFIG ...`, a fresh process,
fresh runs/ and eventlog/ directories) and is timed by wall clock, start-up
included, as a user would see it:
    serial     --workers 1                       1 process, TensorFlow with all cores as intra-op threads
    local x2   --workers 2                       2 processes, cores/2 threads each
    ray x2     --executor ray --workers 2        a local Ray with all cores, 2 tasks of num_cpus=cores/2
Rounds alternate the modes (serial, local, ray, serial, ...) so that drift in
machine load hits all of them; the median per mode is reported.

    .venv/bin/python bench/sweep_throughput.py [--rounds 3] [--limit 55000] [--epochs 2] [--modes serial local ray]

Goals: 2 local workers >= 1.5x serial; Ray within 10% of 2 local workers.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.sweep.local import cpu_count  # noqa: E402  (no TensorFlow: the driver only times)

LRS = [0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.006, 0.008]  # 8 trials
MODES = {
    "serial": ["--workers", "1"],
    "local": ["--workers", "2", "--executor", "local"],
    "ray": ["--workers", "2", "--executor", "ray"],
}
LABELS = {"serial": "serial (1 worker)", "local": "local, 2 workers", "ray": "Ray, 2 tasks"}


def write_config(path: Path, limit: int, epochs: int) -> Path:
    body = {"name": "throughput",
            "model": {"family": "mlp", "hidden": [128]},
            "data": {"limit": limit},
            "train": {"epochs": epochs, "batch_size": 100},
            "logging": {"histograms_every": 0, "images": False},
            "sweep": {"parameters": {"train.lr": LRS}}}
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def run_mode(mode: str, config: Path, workdir: Path) -> dict:
    cmd = [sys.executable, str(ROOT / "sweep.py"), str(config), "--runs", str(workdir / "runs"),
           "--eventlog", str(workdir / "eventlog"), "--quiet", *MODES[mode]]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "RAY_USAGE_STATS_ENABLED": "0"}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    df = pd.read_csv(workdir / "runs" / "throughput" / "results.csv")
    assert len(df) == len(LRS) and (df["status"] == "ok").all(), df
    return {"wall": wall, "train": float(df["train_seconds"].median()),
            "busy": float((df["train_seconds"] + df["eval_seconds"]).sum())}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="runs per mode (median reported; default 3)")
    p.add_argument("--limit", type=int, default=55000, help="training images per trial (default all 55,000)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    args = p.parse_args()
    if "ray" in args.modes and importlib.util.find_spec("ray") is None:
        raise SystemExit("Ray is not installed: .venv/bin/pip install -r requirements-ray.txt "
                         "(or leave it out: --modes serial local)")

    cores = cpu_count()
    print(f"{len(LRS)} trials: MLP hidden [128], {args.limit} training images, {args.epochs} epochs, "
          f"batch 100, no histograms or images; {cores} cores; load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("threads: serial 1 x intra-op %d (inter-op %d); local 2 workers x intra-op %d (inter-op %d); "
          "Ray 2 tasks x num_cpus=%d, intra-op %d (inter-op %d)" % (
              cores, min(2, cores), max(1, cores // 2), min(2, max(1, cores // 2)),
              max(1, cores // 2), max(1, cores // 2), min(2, max(1, cores // 2))))
    results: dict[str, list[dict]] = {m: [] for m in args.modes}
    with tempfile.TemporaryDirectory(prefix="sweep-throughput-") as tmp:
        config = write_config(Path(tmp) / "throughput.yaml", args.limit, args.epochs)
        for r in range(args.rounds):
            for mode in args.modes:
                workdir = Path(tmp) / f"{mode}-{r}"
                workdir.mkdir()
                res = run_mode(mode, config, workdir)
                results[mode].append(res)
                print(f"  round {r + 1} {LABELS[mode]:<18} {res['wall']:6.1f} s  "
                      f"(median trial trains {res['train']:.2f} s)", flush=True)

    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"\n| mode | wall s (median of {args.rounds}) | trials/min | vs serial | median train s/trial "
          f"| startup+overhead s |")
    print("|---|---:|---:|---:|---:|---:|")
    base = statistics.median(r["wall"] for r in results[args.modes[0]])
    workers = {"serial": 1, "local": 2, "ray": 2}
    for mode in args.modes:
        wall = statistics.median(r["wall"] for r in results[mode])
        train = statistics.median(r["train"] for r in results[mode])
        busy = statistics.median(r["busy"] for r in results[mode])
        overhead = wall - busy / workers[mode]  # what is not training or evaluating, per lane
        print(f"| {LABELS[mode]} | {wall:.1f} | {len(LRS) * 60 / wall:.1f} | {base / wall:.2f}x | {train:.2f} "
              f"| {overhead:.1f} |")
    if {"local", "ray"} <= set(args.modes):
        loc = statistics.median(r["wall"] for r in results["local"])
        ray_ = statistics.median(r["wall"] for r in results["ray"])
        print(f"\nRay vs local workers: {loc / ray_:.2f}x the throughput ({(ray_ / loc - 1) * 100:+.0f}% wall time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
