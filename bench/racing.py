#!/usr/bin/env python3
"""Racing graded on seeds it never sees: is the race right, how often does it drop a setting it must not,
is its P(best) calibrated, and what does it spend, against fixed numbers of seeds?

Ground truth (bench/racing_seeds.csv, committed): 6 near-equal settings (dropout 0.0 to 0.5 of one
784-128-10 MLP, Adam 0.002, 2 epochs on 2,000 training images, the usual 5,000 validation images) with
48 seeds each, trained by the harness's own sweep (fused, as a sweep trains them), so seed r is shared
by every setting as in any sweep. Made by

    .venv/bin/python bench/racing.py --retrain      # 288 trials; minutes on 2 cores (the time is printed)

Each resample splits the 48 seeds at random, the same way for every setting: 24 the strategies may draw
(in a random order; the sweep has seen the first 2 of each setting) and 24 held out, whose mean is the
truth. "Right" names the true best or a setting within min_delta (0.2 points) of it; a false claim is a
race ending "one left" (or a fixed allocation separating one winner) on a setting that is not. Strategies:

  (a) the best mean of 2 seeds (a sweep with repeats: 2);
  (b) n seeds for each of the top K by their 2 seeds (10 for the top 6 is the reference for seeds spent);
  (c) races (harness/racing/rounds.py) of several designs, the default among them.

Beside: the null case (K equal settings, seeds sharing the ground truth's share of the variance, and none:
the chance the race drops any), P(best) calibration (5 bins of 20 points, the default design), and the
wall time with fusion (a round's seeds of one width train as fused groups of 8: one group's time each).

    .venv/bin/python bench/racing.py --summary      # from the CSV; ends with the one-line figures
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.racing import rounds  # noqa: E402
from harness.racing.stats import decide, pair_alpha  # noqa: E402

CSV = ROOT / "bench" / "racing_seeds.csv"
METRIC = "best_val_accuracy"
DROPOUTS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
MARGIN = 0.002
GROUP = 8  # fused group size (sweep.fuse: auto)


def ground_truth_config(seeds: int) -> dict:
    return {
        "name": "racing-ground-truth",
        "data": {"limit": 2000, "test_limit": 2000},
        "model": {"family": "mlp", "hidden": [128]},
        "train": {"epochs": 2, "batch_size": 64, "optimizer": "adam", "lr": 0.002},
        "logging": {"histograms_every": 0, "images": False, "every_steps": 0, "keep_model": "none"},
        "sweep": {"method": "grid", "repeats": seeds, "metric": {"name": METRIC, "goal": "maximize"},
                  "parameters": {"model.dropout": DROPOUTS}},
    }


def train(seeds: int, workers: int) -> pd.DataFrame:
    from harness import run_sweep

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="racing-") as tmp:
        outcome = run_sweep(ground_truth_config(seeds), runs=Path(tmp) / "runs", eventlog=Path(tmp) / "eventlog",
                            workers=workers, quiet=True, echo=None)
    df = outcome.table()
    df = df[df["status"] == "ok"][["group", "repeat", "seed", METRIC, "test_accuracy", "train_seconds"]]
    df.to_csv(CSV, index=False, float_format="%.6g")
    print(f"trained {len(df)} trials in {time.perf_counter() - t0:.0f} s -> {CSV.relative_to(ROOT)}", flush=True)
    return df


def seed_share(v: np.ndarray) -> float:
    """The share of a trial's variance that its seed brings to every setting (two-way layout, settings x seeds)."""
    resid = v - v.mean(axis=1, keepdims=True)
    s = v.shape[0]
    total = resid.var(axis=1, ddof=1).mean()
    seed_means = resid.mean(axis=0)
    shared = max(0.0, (seed_means.var(ddof=1) - total / s) * s / (s - 1))
    return float(min(1.0, shared / total)) if total > 0 else 0.0


# --- the strategies, on one resample ----------------------------------------------------------------

def designs() -> dict[str, rounds.Rules]:
    d = rounds.Rules()
    return {
        f"(c) race top {d.top}, max {d.max_repeats} (default)": d,
        "(c) race top 3, max 10": rounds.Rules(top=3, max_repeats=10),
        "(c) race top 3, max 16": rounds.Rules(top=3, max_repeats=16),
        "(c) race top 2, max 16": rounds.Rules(top=2, max_repeats=16),
        "(c) race top 6, max 10": rounds.Rules(top=6, max_repeats=10),
    }


FIXED = [(6, 10), (6, 5), (3, 10), (3, 16)]  # (top K, seeds each); the first is the reference


def one(v: np.ndarray, names: list[str], rng: np.random.Generator, with_p_best: bool) -> tuple[list[dict], list]:
    """One resample: the strategies' rows, and (P(best), is best) pairs of the default race."""
    order = rng.permutation(v.shape[1])
    drawn, held = order[:v.shape[1] // 2], order[v.shape[1] // 2:]
    truth = dict(zip(names, v[:, held].mean(axis=1)))
    pool = {s: v[i, drawn] for i, s in enumerate(names)}
    best = max(truth, key=truth.get)
    right = lambda s: truth[best] - truth[s] <= MARGIN  # noqa: E731
    by2 = sorted(names, key=lambda s: -pool[s][:2].mean())
    searched = 2 * len(names)
    rows = []

    def row(strategy, named, claims, seeds, groups):
        rows.append({"strategy": strategy, "right": right(named), "best": named == best,
                     "false_claim": claims and not right(named), "seeds": seeds, "groups": groups})

    row("(a) best mean of 2 seeds", by2[0], False, searched, 0)
    for k, n in FIXED:
        top = by2[:k]
        d = decide({s: dict(enumerate(pool[s][:n])) for s in top}, "maximize", pair_alpha(0.05, k, 1), 0.0)
        row(f"(b) {n} seeds for each of the top {k}", d.leader, len(d.survivors) == 1, searched + (n - 2) * k,
            math.ceil((n - 2) * k / GROUP))
    calib = []
    for label, rules in designs().items():
        top = by2[:rules.top]
        race = rounds.replay(top, {s: dict(enumerate(pool[s])) for s in top}, 2, rules)
        named = race.decision.leader if race.decision else top[0]
        spent = sum(race.eliminated.get(s, race.seeds) - 2 for s in top)
        looks, groups, have = rules.looks(2), 0, {s: 2 for s in top}
        for n in looks:  # each round: the survivors' new seeds, fused in groups of 8
            alive = [s for s in top if race.eliminated.get(s, 99) >= n and have[s] < n]
            groups += math.ceil(sum(n - have[s] for s in alive) / GROUP)
            have.update({s: n for s in alive})
            if n >= race.seeds:
                break
        row(label, named, race.ended == rounds.ONE_LEFT, searched + spent, groups)
        if with_p_best and "default" in label:
            top_truth = max(top, key=truth.get)
            calib += [(p, s == top_truth) for s, p in race.p_best().items()]
    return rows, calib


def null_case(k: int, rho: float, min_delta: float, races: int, rng: np.random.Generator) -> dict[str, float]:
    """K equal settings, seeds sharing `rho` of the variance: how often each race design drops any."""
    out = {}
    for most in sorted({rules.max_repeats for rules in designs().values()}):
        r = rounds.Rules(top=k, max_repeats=most, min_delta=min_delta)
        drops = 0
        for _ in range(races):
            seed = rng.normal(0, 1, r.max_repeats) * math.sqrt(rho)
            vals = {f"s{i}": dict(enumerate(seed + rng.normal(0, 1, r.max_repeats) * math.sqrt(1 - rho)))
                    for i in range(k)}
            drops += bool(rounds.replay(list(vals), vals, 2, r).eliminated)
        out[f"max {most}"] = drops / races
    return out


def simulated_calibration(spread: float, sd: float, rho: float, races: int, rng: np.random.Generator) -> list:
    """(P(best), is best) of the default race's contenders where the truth is exact: 6 settings whose true
    means are drawn anew each race (sd `spread`, as the ground truth's settings spread), seeds of sd `sd`
    sharing `rho` of the variance; the sweep sees 2 seeds of each, the top 3 race."""
    rules, pairs = rounds.Rules(), []
    for _ in range(races):
        mu = rng.normal(0, spread, 6)
        seed = rng.normal(0, sd * math.sqrt(rho), rules.max_repeats)
        v = {f"s{i}": dict(enumerate(mu[i] + seed + rng.normal(0, sd * math.sqrt(1 - rho), rules.max_repeats)))
             for i in range(6)}
        top = sorted(v, key=lambda s: -(v[s][0] + v[s][1]))[:rules.top]
        best = max(top, key=lambda s: mu[int(s[1:])])
        pairs += [(p, s == best) for s, p in rounds.replay(top, v, 2, rules).p_best().items()]
    return pairs


def calibration(pairs: list) -> tuple[pd.DataFrame, float]:
    df = pd.DataFrame(pairs, columns=["p", "best"])
    df["bin"] = np.minimum((df["p"] * 5).astype(int), 4)
    table = df.groupby("bin").agg(predicted=("p", "mean"), observed=("best", "mean"), n=("p", "size"))
    table.index = [f"{20 * b}-{20 * b + 20}%" for b in table.index]
    enough = table[table["n"] >= 50]
    return table, float((enough["predicted"] - enough["observed"]).abs().max() * 100) if len(enough) else float("nan")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--retrain", action="store_true", help="train the ground truth again into bench/racing_seeds.csv")
    p.add_argument("--seeds", type=int, default=48, help="seeds per setting when retraining")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--summary", action="store_true", help="the tables and the closing line, from the CSV")
    p.add_argument("--resamples", type=int, default=2000)
    p.add_argument("--null-races", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0, help="of the resampling")
    args = p.parse_args()
    df = train(args.seeds, args.workers) if args.retrain else pd.read_csv(CSV)
    if args.retrain and not args.summary:
        return 0
    t0 = time.perf_counter()
    wide = df.pivot(index="group", columns="repeat", values=METRIC).dropna(axis=1)
    names, v = list(wide.index), wide.to_numpy()
    rho, sd = seed_share(v), float((v - v.mean(axis=1, keepdims=True)).std(ddof=1))
    per_group = float(df["train_seconds"].mean() * GROUP)  # a fused group of 8: its members' shares of its time
    print(f"ground truth: {len(names)} settings x {v.shape[1]} seeds, seed sd {100 * sd:.2f} points, "
          f"seed-shared share of the variance {rho:.2f}; means (all seeds) "
          + ", ".join(f"{100 * m:.2f}" for m in sorted(v.mean(axis=1), reverse=True)))
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    rng = np.random.default_rng(args.seed)
    rows, calib = [], []
    for _ in range(args.resamples):
        r, c = one(v, names, rng, True)
        rows += r
        calib += c
    table = pd.DataFrame(rows).groupby("strategy", sort=False).mean()
    reference = table["seeds"].iloc[1]
    print(f"\n{args.resamples} resamples; right = within {100 * MARGIN:g} points of the best of the held-out seeds\n")
    print("| strategy | right | names the true best | false claims | seeds | vs (b) top 6 x 10 | wall, fused |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in table.iterrows():
        print(f"| {name} | {r.right:.1%} | {r.best:.1%} | {r.false_claim:.1%} | {r.seeds:.1f} | "
              f"{r.seeds / reference:.0%} | {r.groups * per_group:.0f} s |")
    margin_sd = MARGIN / sd
    print(f"\nNull case: K equal settings, the chance a race drops any; min_delta 0, and 0.2 points "
          f"({margin_sd:.2f} seed sd)")
    print("| race of all K, at most | K | seeds shared | any dropped, min_delta 0 | min_delta 0.2 points |")
    print("|---|---:|---:|---:|---:|")
    null = {}
    for k in (6, 3):
        for share in (rho, 0.0):
            strict = null_case(k, share, 0.0, args.null_races, rng)
            loose = null_case(k, share, margin_sd, args.null_races, rng)
            for label in strict:
                print(f"| {label} | {k} | {share:.2f} | {strict[label]:.1%} | {loose[label]:.1%} |")
                null[(label, k, share)] = strict[label]
    spread = float(v.mean(axis=1).std(ddof=1))
    for title, pairs in ((f"truth exact: 6 settings drawn with the ground truth's spread ({100 * spread:.2f} points), "
                          f"seed sd and share, {args.resamples} races", simulated_calibration(spread, sd, rho, args.resamples, rng)),
                         ("truth from the 24 held-out seeds (itself noisy: near-equal settings' order is partly luck)", calib)):
        calib_table, gap = calibration(pairs)
        print(f"\nP(best) calibration, default race, every contender at its end; {title}:")
        print("| printed | mean printed | observed best | n |\n|---|---:|---:|---:|")
        for b, r in calib_table.iterrows():
            print(f"| {b} | {r.predicted:.1%} | {r.observed:.1%} | {int(r.n)} |")
        if title.startswith("truth exact"):
            exact_gap = gap
    gap = exact_gap
    default = next(iter(designs()))
    d = table.loc[default]
    worst_null = max(x for (label, k, s), x in null.items() if label == f"max {designs()[default].max_repeats}")
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    print(f"null_any_drop {worst_null:.1%} right {d.right:.1%} seeds {d.seeds / reference:.0%} "
          f"calibration_max_gap {gap:.1f} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
