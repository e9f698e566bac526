#!/usr/bin/env python3
"""Search efficiency: full random search vs random + ASHA vs TPE vs TPE + ASHA, several search seeds, one run.

The search space is experiments/deep-sweep.yaml's (MLP width/depth, dropout,
log-uniform learning rate, optimizer); each search tries the same number of
settings (--trials), each setting trained for --epochs on --limit training
images (the 5,000 validation and 10,000 test images as always). Every search
is a real sweep through `run_sweep` (local workers), and its records give:
- the best validation accuracy found (what the search chooses on) and the
  test accuracy of that choice;
- the compute spent: training epochs and seconds, pruned trials included;
- for TPE, the trials it needed to reach random search's best (same seed).
It prints a table per method (median over seeds), Welch's t-test of each
method's best against full random search's, and plots the best found against
cumulative epochs and seconds (bench/results/search_efficiency.png).

    .venv/bin/python bench/search_efficiency.py [--seeds 0 1 2] [--trials 16] [--epochs 6] [--limit 10000]

Goals (issue 10): random + ASHA reaches the full random search's best within
noise using at most 35% of its training epochs; TPE reaches random's best in
at most half the trials.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import run_sweep  # noqa: E402
from harness.analysis.search_plots import best_so_far  # noqa: E402

METHODS = {  # name -> sweep section changes
    "random": {"method": "random"},
    "random+asha": {"method": "random", "pruner": {"kind": "asha", "min_epochs": 1, "reduction_factor": 3}},
    "tpe": {"method": "tpe"},
    "tpe+asha": {"method": "tpe", "pruner": {"kind": "asha", "min_epochs": 1, "reduction_factor": 3}},
}


def config(method: str, seed: int, args) -> dict:
    raw = yaml.safe_load((ROOT / "experiments" / "deep-sweep.yaml").read_text())
    raw = copy.deepcopy(raw)
    raw["name"] = f"{method}-seed{seed}"
    raw["data"] = {"limit": args.limit}
    raw["train"]["epochs"] = args.epochs
    raw["logging"] = {"histograms_every": 0, "images": False, "every_steps": 0}
    sweep = raw["sweep"]
    sweep.update(repeats=1, seed=seed, samples=args.trials, trials=args.trials,
                 metric={"name": "best_val_accuracy", "goal": "maximize"}, **METHODS[method])
    return raw


def measure(method: str, seed: int, args, where: Path) -> dict:
    t0 = time.perf_counter()
    outcome = run_sweep(config(method, seed, args), runs=where / "runs", eventlog=where / "eventlog",
                        workers=args.workers)
    wall = time.perf_counter() - t0
    df = outcome.table()
    ok = df[df["status"] == "ok"]
    best = ok.loc[ok["best_val_accuracy"].idxmax()]
    curve = best_so_far(df, "best_val_accuracy", "maximize")
    return {"method": method, "seed": seed, "best_val": best["best_val_accuracy"], "test_of_best": best["test_accuracy"],
            "epochs": int(df["epochs_run"].sum()), "train_s": float(df["train_seconds"].sum()), "wall_s": wall,
            "trials": len(df), "pruned": int((df["status"] == "pruned").sum()), "curve": curve}


def trials_to_reach(curve: pd.DataFrame, target: float) -> int | None:
    hit = curve[curve["best"] >= target - 1e-12]
    return int(hit["trial"].iloc[0]) if len(hit) else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--trials", type=int, default=16, help="settings per search")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--limit", type=int, default=10000, help="training images")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    args = p.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="search-efficiency-") as tmp:
        for seed in args.seeds:  # seeds outermost: machine drift hits every method alike
            for method in args.methods:
                r = measure(method, seed, args, Path(tmp))
                rows.append(r)
                print(f"{method:<12} seed {seed}: best val {r['best_val']:.4f} (test {r['test_of_best']:.4f}), "
                      f"{r['epochs']} epochs, {r['train_s']:.0f} s training, {r['pruned']} pruned, "
                      f"{r['wall_s']:.0f} s wall", flush=True)

    by = {m: [r for r in rows if r["method"] == m] for m in args.methods}
    full = by.get("random")
    print(f"\nSearch space: experiments/deep-sweep.yaml; {args.trials} settings per search, {args.epochs} epochs, "
          f"{args.limit} training images, --workers {args.workers}; median over seeds {args.seeds}.\n")
    print("| method | best val acc | its test acc | epochs | vs random | train s | wall s | Welch p vs random "
          "| trials to reach random's best |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for m, rs in by.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("best_val", "test_of_best", "epochs", "train_s", "wall_s")}
        share = f"{med['epochs'] / statistics.median(r['epochs'] for r in full):.0%}" if full else "-"
        p_value = "-"
        if full and m != "random" and len(rs) > 1:
            p_value = f"{stats.ttest_ind([r['best_val'] for r in rs], [r['best_val'] for r in full], equal_var=False).pvalue:.2f}"
        reach = "-"
        if full and m != "random":
            target = {r["seed"]: r["best_val"] for r in full}
            reach = " ".join(str(trials_to_reach(r["curve"], target[r["seed"]]) or "never") for r in rs)
        print(f"| {m} | {med['best_val']:.4f} | {med['test_of_best']:.4f} | {med['epochs']:.0f} | {share} | "
              f"{med['train_s']:.0f} | {med['wall_s']:.0f} | {p_value} | {reach} |")

    out = ROOT / "bench" / "results" / "search_efficiency.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    plot(by, out)
    print(f"\nplot: {out}")
    return 0


def plot(by: dict, out: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.5), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    colors = dict(zip(METHODS, ("tab:gray", "tab:orange", "tab:blue", "tab:green")))
    for m, rs in by.items():
        for i, r in enumerate(rs):
            for ax, x in zip(axes, ("epochs", "seconds")):
                ax.step(r["curve"][x], r["curve"]["best"], where="post", color=colors[m], alpha=0.8,
                        label=m if i == 0 else None)
    finals = [r["curve"]["best"].iloc[-1] for rs in by.values() for r in rs]
    axes[0].set_ylim(min(finals) - 0.02, max(finals) + 0.005)  # where the searches differ, not their first trials
    axes[0].set(xlabel="cumulative training epochs", ylabel="best validation accuracy found")
    axes[1].set(xlabel="cumulative training seconds")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right")
    fig.suptitle("search efficiency: one line per search seed")
    fig.savefig(out, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
