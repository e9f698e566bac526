#!/usr/bin/env python3
"""How much does the harness's instrumentation cost? Harness trial vs bare Keras, side by side.

The same model, data, epochs and seed are trained by `run_trial` (scalars every
step interval and every epoch, histograms of every layer every epoch, config/graph/
images/hparams, checkpoints, history and record) and by bare Keras: build,
compile, `model.fit` with validation and no callbacks, test predictions, save.
Runs alternate (harness, bare, harness, bare, ...) in one process so drift in
machine load hits both; the median wall-time ratio is printed per model.

    .venv/bin/python bench/overhead.py [--runs 5] [--models mlp cnn]

Goal: a ratio of at most 1.05.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.quiet import filter_tensorflow_noise  # noqa: E402

filter_tensorflow_noise()  # before TensorFlow is imported

import keras  # noqa: E402

from harness.config import schema as config  # noqa: E402
from harness.training import data  # noqa: E402
from harness.training.trial import run_trial  # noqa: E402
from harness.config.plan import TrialSpec  # noqa: E402
from harness.layout import Workspace  # noqa: E402
from bare_keras import train_bare  # noqa: E402

# Full training set; each run 15-40 s of training on 2 cores.
CASES = {
    "mlp": {"model": {"family": "mlp", "hidden": [512, 256]}, "train": {"epochs": 8}},
    "cnn": {"model": {"family": "cnn"}, "train": {"epochs": 1}},
}


def harness_run(cfg, mnist, workdir: Path) -> float:
    t0 = time.perf_counter()
    record = run_trial(TrialSpec.single(cfg, f"t{time.monotonic_ns()}"), Workspace(workdir / "runs", workdir / "eventlog"), mnist)
    elapsed = time.perf_counter() - t0
    assert record.status == "ok", record.error
    return elapsed


def bare_run(cfg, mnist, workdir: Path) -> float:
    t0 = time.perf_counter()
    train_bare(cfg, mnist, workdir / f"bare{time.monotonic_ns()}.keras")
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="runs of each side per model (default 3)")
    p.add_argument("--models", nargs="+", choices=list(CASES), default=list(CASES))
    args = p.parse_args()
    mnist = data.load()
    print(f"{'model':<5} {'harness s (median)':>19} {'bare s (median)':>16} {'ratio':>7}   per-run ratios")
    for name in args.models:
        cfg = config.from_dict({"name": f"bench-{name}", "logging": {"histograms_every": 1, "every_steps": 100},
                                **CASES[name]})
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            harness_run(cfg, mnist, workdir)  # warm-up: first-use costs (imports, kernels) land on neither side
            keras.backend.clear_session()
            times = {"harness": [], "bare": []}
            for _ in range(args.runs):
                for side, fn in (("harness", harness_run), ("bare", bare_run)):
                    times[side].append(fn(cfg, mnist, workdir))
                    keras.backend.clear_session()
        ratios = [h / b for h, b in zip(times["harness"], times["bare"])]
        h, b = statistics.median(times["harness"]), statistics.median(times["bare"])
        print(f"{name:<5} {h:>19.2f} {b:>16.2f} {h / b:>7.3f}   " + " ".join(f"{r:.3f}" for r in ratios), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
