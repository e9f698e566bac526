"""What a trial costs, the same whichever group it trained in: its steps at its kind's steady speed alone.

A fused member's `train_seconds` is its share of its group's wall time, compile
included, so it tells how the sweep happened to group trials (3.2 s a member in
a group of 8, 0.4 s in a group of 2), not what the setting costs. `cost_seconds`
is the trial's training steps times the CPU seconds one step of its kind takes
trained alone, unfused: the kind is what fused members share (rule.shared_key:
model, batch size, optimizer kind, data), timed once per kind and sweep on
steady steps of a single model (the fastest of 8 rounds of 64 steps, after a
warm-up round that absorbs the compile) and kept in runs/E/cost_calibration.json,
so every trial of the kind gets the identical figure and a resumed sweep
reuses it. Compiling, validation, logging and testing are not in it: they
depend on the grouping and the logging, not on the setting.

CPU time (the process's, every thread), not wall time: measured on the 2-core
machine shared with other work (load 6), six calibrations of 784-128-10 gave
1.42-1.52 ms of CPU a step and 0.86-1.60 ms of wall time; other processes
slow a round's wall clock, while its CPU time is its own. On an idle machine
TensorFlow spreads a step over both cores, so it takes less wall time than CPU.

`train_flops` is exact arithmetic instead of time: 2 x the multiply-adds of the
Dense and Conv2D layers for a forward pass, x 3 with the backward pass, x the
examples trained (biases, activations and the optimizer's update left out).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np

from harness.config.schema import ExperimentConfig
from harness.files import atomic_write_text, file_lock, read_json
from harness.record import utc_now
from harness.training import models, optim, order
from harness.training.fusion.rule import shared_key

ROUND = optim.MAX_STEPS_PER_EXECUTION  # steps a timed round runs, in one execution: as an unfused trial does at best
ROUNDS = 8  # timed rounds after the warm-up one; the fastest is the figure


class _Rounds(keras.callbacks.Callback):
    """Each epoch's (one round's) CPU time, the process's every thread, and wall time."""

    def __init__(self):
        super().__init__()
        self.cpu: list[float] = []
        self.wall: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._cpu, self._wall = time.process_time(), time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.cpu.append(time.process_time() - self._cpu)
        self.wall.append(time.perf_counter() - self._wall)


def calibrate(cfg: ExperimentConfig, x: np.ndarray, y: np.ndarray) -> dict:
    """Time steady training steps of one unfused model of `cfg`'s kind on batches drawn from (x, y)."""
    batch = cfg.train.batch_size
    take = np.resize(np.arange(len(x)), ROUND * batch)  # exactly ROUND whole batches a round
    model = models.build(cfg.model, cfg.data.scaling)
    optim.compile_model(model, cfg.train, len(take), steps_per_execution=ROUND)
    rounds = _Rounds()
    model.fit(order.dataset(x[take], y[take], cfg.train.seed, batch, 0, 1 + ROUNDS), epochs=1 + ROUNDS,
              steps_per_epoch=ROUND, callbacks=[rounds], verbose=0, shuffle=False)
    cpu, wall = rounds.cpu[1:], rounds.wall[1:]  # the first absorbed tracing and compiling
    return {"seconds_per_step": min(cpu) / ROUND, "round_cpu_seconds": cpu, "round_wall_seconds": wall,
            "steps_a_round": ROUND, "batch_size": batch, "calibrated": utc_now()}


def seconds_per_step(cfg: ExperimentConfig, x: np.ndarray, y: np.ndarray, path: Path) -> float:
    """The calibrated CPU seconds a step of `cfg`'s kind takes, from `path`; timed (and kept there) the first time.

    Under the file's lock, so that workers finishing trials of one kind at once time it once; a file
    that cannot be read is timed again and replaced (it only ever holds measurements).
    """
    key = shared_key(cfg)
    with file_lock(path.with_name(f".{path.name}.lock")):
        try:
            known = read_json(path)
        except (OSError, ValueError):
            known = {}
        known = known if isinstance(known, dict) else {}
        if not isinstance(known.get(key), dict) or "seconds_per_step" not in known[key]:
            known[key] = calibrate(cfg, x, y)
            atomic_write_text(path, json.dumps(known, indent=1, sort_keys=True) + "\n")
        return float(known[key]["seconds_per_step"])


def examples_trained(steps: int, n_train: int, batch_size: int) -> int:
    """The examples `steps` steps saw: whole epochs of `n_train`, then whole batches (an epoch's partial
    batch is its last)."""
    per_epoch = order.steps_per_epoch(n_train, batch_size)
    return steps // per_epoch * n_train + min(steps % per_epoch * batch_size, n_train)


def flops_per_example(model: keras.Model) -> int:
    """Training FLOPs for one example: 6 x the multiply-adds of the Dense and Conv2D layers."""
    macs = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            macs += int(np.prod(layer.kernel.shape))
        elif isinstance(layer, keras.layers.Conv2D):
            macs += int(np.prod(layer.kernel.shape)) * int(np.prod(layer.output.shape[1:3]))
    return 6 * macs
