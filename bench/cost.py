#!/usr/bin/env python3
"""What a trial costs, alone or fused: the same 8 settings trained alone, in fused groups of 2 and in one of 8.

One sweep of 8 learning rates (784-128-10, real MNIST), run three ways in turn,
round after round (bench/paired.py), each in its own folder, so each times its
own calibration (training/cost.py):
    alone  sweep.py --fuse off   every trial alone
    g2     sweep.py --fuse 2     four fused groups of 2
    g8     sweep.py --fuse 8     one fused group of 8
Printed per round: each side's median cost_seconds and train_seconds over the 8
trials, then the ratios g2/g8 and alone/g8 of each trial's cost_seconds (its
steps x its kind's seconds a step alone: meant to be 1, within 10%) and of its
train_seconds (its share of the wall time it trained in, for contrast), the
median over trials and rounds and the one farthest from 1.

    .venv/bin/python bench/cost.py [--rounds 2] [--epochs 2] [--limit 10000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from fusion import LRS  # noqa: E402
from paired import alternate  # noqa: E402

SIDES = {"alone": "off", "g2": "2", "g8": "8"}
NAME = "cost"


def commands(config: Path, work: Path) -> dict[str, list[str]]:
    return {side: [sys.executable, str(ROOT / "sweep.py"), str(config), "--workers", "1", "--quiet", "--fuse", fuse,
                   "--runs", str(work / side / "runs"), "--eventlog", str(work / side / "ev")]
            for side, fuse in SIDES.items()}


def results(work: Path) -> dict[str, pd.DataFrame]:
    return {side: pd.read_csv(work / side / "runs" / NAME / "results.csv").set_index("trial_id") for side in SIDES}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--limit", type=int, default=10000, help="training images")
    args = p.parse_args()
    ratios: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "cost.yaml"
        config.write_text(yaml.safe_dump({
            "name": NAME, "model": {"hidden": [128]}, "data": {"limit": args.limit},
            "train": {"epochs": args.epochs}, "logging": {"histograms_every": 0, "images": False},
            "sweep": {"parameters": {"train.lr": LRS}}}))
        alternate(lambda work: commands(config, work), args.rounds, Path(tmp), "cost")
        for i in range(args.rounds):
            df = results(Path(tmp) / f"cost-{i}")
            assert all((d["status"] == "ok").all() for d in df.values()) and (df["g8"]["fused_size"] == 8).all()
            print(f"  round {i + 1}, median over the 8 trials: " + "; ".join(
                f"{side} cost {d['cost_seconds'].median():.2f} s, train {d['train_seconds'].median():.2f} s"
                for side, d in df.items()))
            for column in ("cost_seconds", "train_seconds"):
                for side in ("g2", "alone"):
                    ratios.setdefault(f"{column} {side}/g8", []).extend(df[side][column] / df["g8"][column])
    print("ratio over 8 trials x rounds: median (farthest from 1)")
    for name, values in ratios.items():
        print(f"  {name:22} {statistics.median(values):.3f} ({max(values, key=lambda v: abs(v - 1)):.3f})")


if __name__ == "__main__":
    main()
