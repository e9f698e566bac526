#!/usr/bin/env python3
"""Fused trials against unfused ones and against bare Keras: whole processes, wall and CPU time.

Three commands do the same ML work (same models, data, seeds, epochs), run in
turn (fused, unfused, bare, fused, ...; bench/paired.py) so drift in machine
load hits all three:
    fused     python sweep.py CONFIG --workers W   (the default, `sweep.fuse: auto`; every instrument on:
              scalars, per-layer histograms every epoch, graph, text, images, HParams, checkpoints, records)
    unfused   python sweep.py CONFIG --workers W --fuse off
    bare      one Python process: per trial build, compile, `fit` with validation, predict, save
Cases (8 trials each, learning rates differ, 2 epochs on the full 55,000 images):
    mlp128    784-128-10            (goal: fused at most 0.40x bare wall time)
    mlp512    784-512-10            (goal: at most 0.67x; `auto` trains these alone, measured faster)
    mlp512x8  784-512-10 with --fuse 8: what fusing them would give
    cnn       the tutorial CNN, 1 trial of 1 epoch on 10,000 images, and
    mlp500x3  784-500-500-500-10, 1 trial: never fused; what steps_per_execution alone gives
    quick     experiments/quick.yaml with --workers 2: what `make run` does
Each case with --workers 1 and 2 (cnn and mlp500x3: 1). Printed per case: median seconds, the
ratios to bare (median of the rounds' ratios), the CPU-time ratios, the disk per trial, and the
share of this machine's matmul peak (a 2048 x 2048 float32 matmul, timed here) that the
training FLOPs (6 x multiply-adds per example, forward and backward) reach in that wall time.

    .venv/bin/python bench/fusion.py [--pairs 2] [--cases mlp128 mlp512] [--workers 1 2] [--quick]

--quick: 10,000 images and 1 epoch (a shape check, not a measurement).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from paired import alternate, disk_bytes  # noqa: E402

LRS = [0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.006, 0.008]
ALONE = ("unfused", "bare")  # never fused: `auto` and `off` are the same command
CASES = {
    "mlp128": {"model": {"hidden": [128]}, "train": {"epochs": 2}, "lrs": LRS, "goal": 0.40},
    "mlp512": {"model": {"hidden": [512]}, "train": {"epochs": 2}, "lrs": LRS, "goal": 0.67},
    "mlp512x8": {"model": {"hidden": [512]}, "train": {"epochs": 2}, "lrs": LRS, "goal": None, "fuse": "8"},
    "cnn": {"model": {"family": "cnn"}, "train": {"epochs": 1, "batch_size": 50}, "data": {"limit": 10000},
            "lrs": None, "goal": None, "sides": ALONE},
    "mlp500x3": {"model": {"hidden": [500, 500, 500], "dropout": 0.2}, "train": {"epochs": 2, "optimizer": "rmsprop"},
                 "lrs": None, "goal": None, "sides": ALONE},
    "quick": {"file": "experiments/quick.yaml", "lrs": None, "goal": None, "workers": [2]},  # make run
}
SIDES = ("fused", "unfused", "bare")


def write_config(path: Path, name: str, case: dict, quick: bool) -> Path:
    if "file" in case:
        body = yaml.safe_load((ROOT / case["file"]).read_text())
        if quick:
            body.setdefault("data", {})["limit"] = 10000
        path.write_text(yaml.safe_dump(body, sort_keys=False))
        return path
    body = {"name": name, **{k: dict(v) for k, v in case.items() if k in ("model", "train", "data")}}
    if quick:
        body.setdefault("data", {})["limit"] = min(10000, body.get("data", {}).get("limit") or 10000)
        body["train"]["epochs"] = 1
    if case["lrs"]:
        body["sweep"] = {"parameters": {"train.lr": case["lrs"]}}
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def plan_specs(config: Path) -> list:
    """The trials the config's sweep plans (its search; a confirmation race adds more)."""
    from harness.config import plan, schema

    return plan.plan(schema.load_raw(config), str(config))[1]


def training_flops(config: Path) -> float:
    """6 x multiply-adds per example x examples seen, over the sweep's trials (dense layers and convolutions)."""
    from harness.training import cost, models

    total = 0.0
    for spec in plan_specs(config):
        cfg = spec.config
        examples = (cfg.data.limit or (60000 - cfg.data.validation)) * cfg.train.epochs
        total += cost.flops_per_example(models.build(cfg.model, cfg.data.scaling)) * examples
    return total


def matmul_peak() -> float:
    """GFLOP/s of a 2048 x 2048 float32 matmul here, in a fresh process (all cores)."""
    code = ("import time,tensorflow as tf\na=tf.random.normal((2048,2048));b=tf.random.normal((2048,2048))\n"
            "f=tf.function(lambda:tf.matmul(a,b));f()\nt=time.perf_counter()\nfor _ in range(20): r=f()\n"
            "r.numpy();print(2*2048**3*20/(time.perf_counter()-t)/1e9)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=True)
    return float(out.stdout.split()[-1])


def commands(config: Path, work: Path, workers: int, case: dict) -> dict[str, list[str]]:
    sweep = [sys.executable, str(ROOT / "sweep.py"), str(config), "--workers", str(workers), "--quiet"]
    sides = {side: [*sweep, "--fuse", fuse, "--runs", str(work / side / "runs"), "--eventlog", str(work / side / "ev")]
             for side, fuse in (("fused", case.get("fuse", "auto")), ("unfused", "off"))}
    sides["bare"] = [sys.executable, str(ROOT / "bench" / "sweep_overhead.py"), "--bare", str(config), str(work / "bare")]
    return {side: cmd for side, cmd in sides.items() if side in case.get("sides", SIDES)}


def run_case(name: str, case: dict, workers: int, pairs: int, tmp: Path, quick: bool, peak: float) -> dict:
    config = write_config(tmp / f"{name}-{workers}.yaml", f"fusion-{name}", case, quick)
    trials = len(plan_specs(config))
    rounds = alternate(lambda work: commands(config, work, workers, case), pairs, tmp, f"{name} x{workers}")
    sides = list(rounds.wall)
    seconds = {s: rounds.median(s) for s in sides}
    flops = training_flops(config)
    return {"name": name, "workers": workers, "seconds": seconds,
            "ratio": {s: rounds.ratio(s, "bare") for s in sides},
            "cpu_ratio": {s: rounds.ratio(s, "bare", cpu=True) for s in sides},
            "peak_share": {s: flops / seconds[s] / 1e9 / peak for s in sides},
            "sizes": {s: disk_bytes(rounds.last / s) / trials for s in sides if s != "bare"}, "goal": case["goal"]}


def cell(table: dict, side: str, fmt: str) -> str:
    return fmt.format(table[side]) if side in table else "(same)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=3, help="rounds of the three commands per case (default 3)")
    p.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    p.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    p.add_argument("--quick", action="store_true", help="10,000 images, 1 epoch: a shape check")
    args = p.parse_args()
    peak = matmul_peak()
    print(f"matmul peak {peak:.0f} GFLOP/s; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
          flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="fusion-") as tmp:
        for name in args.cases:
            for workers in CASES[name].get("workers") or (args.workers if CASES[name]["lrs"] else [1]):
                rows.append(run_case(name, CASES[name], workers, args.pairs, Path(tmp), args.quick, peak))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| case | workers | fused s | unfused s | bare s | fused / bare (goal) | unfused / bare "
          "| CPU fused / bare | CPU unfused / bare | share of matmul peak: fused, unfused, bare | disk per trial |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        s, q, c, share = r["seconds"], r["ratio"], r["cpu_ratio"], r["peak_share"]
        goal = f" (<= {r['goal']:.2f})" if r["goal"] else ""
        print(f"| {r['name']} | {r['workers']} | {cell(s, 'fused', '{:.1f}')} | {s['unfused']:.1f} | {s['bare']:.1f} "
              f"| {cell(q, 'fused', '{:.2f}')}{goal} | {q['unfused']:.2f} | {cell(c, 'fused', '{:.2f}')} "
              f"| {c['unfused']:.2f} | " + ", ".join(f"{100 * share[x]:.0f}%" for x in share)
              + f" | {r['sizes']['unfused'] / 1e6:.2f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
