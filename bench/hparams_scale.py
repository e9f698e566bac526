#!/usr/bin/env python3
"""Does the HParams dashboard stay usable with a sweep of a few hundred trials?

Writes the event files of a 300-trial sweep (150 settings x 2 repeats, plus a
small second sweep, so `--logdir eventlog` has a union to show) with the
harness's own writers: `summaries.write_start` (config, architecture, graph,
hparams), epoch scalars as `SummaryLogger` logs them, `summaries.write_end`
(final metrics, session status), and `register_sweep` for the experiment.
No training: the metrics are made up, the files are what a sweep writes.
Then starts the real `tensorboard` server and times, as the dashboard asks
them (every column), the HParams `experiment` and `session_groups` requests,
for `--logdir eventlog` and `--logdir eventlog/NAME`.

    .venv/bin/python bench/hparams_scale.py [--trials 300] [--rounds 5]

Goal: each request answers in well under a second.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from harness.quiet import filter_tensorflow_noise  # noqa: E402

filter_tensorflow_noise()  # before TensorFlow is imported

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from fixtures_eventlog import experiment, loaded, session_groups, tensorboard  # noqa: E402
from harness.config import plan, schema  # noqa: E402
from harness.record import OK, TrialRecord  # noqa: E402
from harness.metrics import CURVES, EXAMPLES_PER_SECOND, LEARNING_RATE, SECONDS_PER_EPOCH  # noqa: E402
from harness import hparams  # noqa: E402
from harness.sweep.hparams_union import register_sweep  # noqa: E402
from harness.training import models, summaries  # noqa: E402


def sweep_config(name: str, trials: int) -> dict:
    """A grid of trials/2 settings (width x dropout x learning rate), 2 repeats each."""
    settings = trials // 2
    lrs = [round(0.001 * (i + 1), 4) for i in range(max(1, settings // 10))]
    return {"name": name, "logging": {"images": False},
            "sweep": {"repeats": 2, "parameters": {"model.hidden": [[64], [128]],
                                                   "model.dropout": [0.0, 0.1, 0.2, 0.3, 0.4], "train.lr": lrs}}}


def write_sweep(eventlog: Path, raw: dict, epochs: int = 3) -> int:
    """The event files of every trial of `raw`, as its workers would write them; returns the settings count."""
    cfg, specs = plan.plan(raw)
    register_sweep(eventlog, cfg)
    rng = np.random.default_rng(0)
    model = models.build(specs[0].config.model, specs[0].config.data.scaling)
    for spec in specs:
        writer = tf.summary.create_file_writer(str(eventlog / cfg.name / spec.trial_id))
        summaries.write_start(writer, schema.trial_yaml(spec.config), model,
                              hparams.session_hparams(spec.config, spec.settings),
                              hparams.session_group(cfg.name, spec.group), spec.config.description)
        with writer.as_default():
            for epoch in range(epochs):
                step = 430 * (epoch + 1)
                for tag in (*CURVES.values(), LEARNING_RATE, SECONDS_PER_EPOCH, EXAMPLES_PER_SECOND):
                    tf.summary.scalar(tag, float(rng.random()), step=step)
        record = TrialRecord(spec.trial_id, cfg.name, status=OK, test_accuracy=float(rng.uniform(0.9, 0.99)),
                             test_loss=float(rng.random()), best_val_accuracy=float(rng.uniform(0.9, 0.99)),
                             train_seconds=float(rng.uniform(5, 50)))
        summaries.write_end(writer, record, None, None, None, step=430 * epochs, images=False)
        writer.close()
    return len({s.group for s in specs})


def timed(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(logdir: Path, groups: int, rounds: int) -> dict:
    start = time.perf_counter()
    with tensorboard(logdir) as base:
        up = time.perf_counter() - start
        loaded(base, groups)
        ready = time.perf_counter() - start
        exp = experiment(base)
        return {"logdir": str(logdir.name), "server_up_s": round(up, 2), "all_sessions_loaded_s": round(ready, 2),
                "columns": len(exp["hparamInfos"]), "metrics": len(exp["metricInfos"]),
                "experiment_s": round(timed(lambda: experiment(base), rounds), 3),
                "session_groups_all_s": round(timed(lambda: session_groups(base, exp), rounds), 3),
                "session_groups_page_of_100_s": round(timed(lambda: session_groups(base, exp, 100), rounds), 3)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=300, help="trials of the big sweep (default 300)")
    p.add_argument("--rounds", type=int, default=5, help="requests timed per kind; the median is reported")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        eventlog = Path(tmp) / "eventlog"
        start = time.perf_counter()
        big = write_sweep(eventlog, sweep_config("big", args.trials))
        small = write_sweep(eventlog, {"name": "small", "sweep": {"parameters": {"train.optimizer": ["sgd", "adam"]}}})
        written = time.perf_counter() - start
        print(f"wrote {args.trials} + 2 trials' event files in {written:.1f} s")
        rows = [measure(eventlog, big + small, args.rounds), measure(eventlog / "big", big, args.rounds)]
    for row in rows:
        print(json.dumps(row))
    out = ROOT / "bench" / "results" / "hparams_scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"trials": args.trials, "rounds": args.rounds, "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
