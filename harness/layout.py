"""Where every artifact lives: all paths under runs/ and eventlog/, named in one place.

For experiment E and trial T:

    runs/E/results.csv        one row per trial, rebuilt from the records
    runs/E/plots/             the sweep's plots
    runs/E/.sweep.lock        held by the sweep running on E
    runs/E/sweep.yaml         the config the sweep last ran with, sweep section included
    runs/E/confirm.json       sweep.confirm: the race's verdict (winner, differences, eliminations)
    runs/E/cost_calibration.json  CPU seconds a step of each kind of model takes alone (training/cost.py)
    runs/E/.damaged/          damaged trial folders, set aside (harness/sweep/repair.py)
    runs/E/T/trial.json       the trial record (the single source of truth; written last)
    runs/E/T/config.yaml      the trial's resolved config
    runs/E/T/history.csv      one row per epoch
    runs/E/T/model.keras      the trained model (logging.keep_model: final or best)
    runs/E/T/model.weights.h5 its weights only (logging.keep_model: weights)
    runs/E/T/checkpoint/      resume state while the trial runs: ckpt-NNNNNN/ (weights.npz,
                              state.json), the newest and the previous whole one
    runs/E/T/curves.png|svg   learning curves
    runs/E/T/.lock            held by the process training T
    eventlog/E/R/             the trial's TensorBoard events, in its run R = run_name(T): T shortened
                              for TensorBoard's run selector (hidden=128,dropout=0.2,lr=0.003,rep=0
                              is h128,drop.2,lr.003,r0)
    eventlog/E/hparams_experiment.pb
                              the sweep's HParams experiment (TensorBoard does not read it)
    eventlog/.hparams/DIGEST/ the one HParams experiment TensorBoard reads: the union of the sweeps'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

RECORD = "trial.json"
CONFIG = "config.yaml"
HISTORY = "history.csv"
MODEL = "model.keras"
WEIGHTS = "model.weights.h5"
CHECKPOINT = "checkpoint"
CHECKPOINT_SLOT = "ckpt-"  # + a 6-digit number, increasing: one whole checkpoint per directory
CHECKPOINT_WEIGHTS = "weights.npz"  # every variable of the model and its optimizer, in order
LEGACY_CHECKPOINT_WEIGHTS = "weights.weights.h5"  # what checkpoints held before: still read
CHECKPOINT_STATE = "state.json"
CURVES = "curves"  # curves.png, curves.svg
TRIAL_LOCK = ".lock"
RESULTS = "results.csv"
PLOTS = "plots"
SWEEP_LOCK = ".sweep.lock"
SWEEP_CONFIG = "sweep.yaml"  # the config the sweep last ran with (its metric ranks the results)
CONFIRM = "confirm.json"  # sweep.confirm: the race's verdict
COST_CALIBRATION = "cost_calibration.json"  # training/cost.py: CPU seconds a step of each kind, alone
DAMAGED = ".damaged"  # damaged trial folders, set aside
SWEEP_HPARAMS = "hparams_experiment.pb"
UNION_HPARAMS = ".hparams"  # holds the lock of the union's rebuild
UNION_RUN = "~hparams"  # eventlog/E/~hparams/DIGEST/: the union of every sweep's HParams experiment


# TensorBoard's run selector shows about 26 characters of a run's name, `E/` included (Time Series at
# 1280 px): a trial's run is its id with the longer parameter names shortened, values' leading zeros
# dropped and `rep=N` as `rN`. Each short name is one no leaf of the config has, so distinct ids stay distinct.
RUN_KEYS = {"hidden": "h", "dropout": "drop", "optimizer": "opt", "batch_size": "bs", "epochs": "ep",
            "momentum": "mom", "epsilon": "eps", "schedule": "sched", "kernel_init": "init", "family": "fam"}


def run_name(trial_id: str) -> str:
    """The TensorBoard run (eventlog/E/<run_name>) of trial `trial_id`; idempotent."""
    setting, sep, rep = trial_id.rpartition(",rep=")
    if not sep:
        setting, rep = trial_id, None
    parts = [_short_pair(part) for part in setting.split(",")] + ([f"r{rep}"] if rep is not None else [])
    return ",".join(parts)


def shared_runs(trial_ids) -> list[tuple[str, str, str]]:
    """(id, id, run) for trial ids that would write into one TensorBoard run: none, by construction;
    checked all the same before a sweep writes anything, so a case run_name missed is refused, not mixed."""
    seen: dict[str, str] = {}
    out = []
    for tid in trial_ids:
        name = run_name(tid)
        if seen.setdefault(name, tid) != tid:
            out.append((seen[name], tid, name))
    return out


def _short_pair(part: str) -> str:
    key, eq, value = part.partition("=")
    if not eq:
        return part
    *path, leaf = key.split(".")
    key = ".".join([*path, RUN_KEYS.get(leaf, leaf)])
    short = re.sub(r"^(-?)0\.(?=\d)", r"\1.", value)  # 0.003 -> .003
    # h128, lr.003, lr-5; not l2=.01. A value that was written '.5' keeps its '=' (lr=.5): joined, it
    # would read as '0.5' shortened, and two trials would share one run.
    joined = key[-1:].isalpha() and (short != value or re.match(r"-?\d", value) is not None)
    return f"{key}{short}" if joined else f"{key}={short}"


def _in_run_dir(name: str) -> property:
    """A path of the run directory, named once above."""
    return property(lambda self: self.run_dir / name)


@dataclass(frozen=True)
class TrialPaths:
    run_dir: Path
    log_dir: Path

    record = _in_run_dir(RECORD)
    config = _in_run_dir(CONFIG)
    history = _in_run_dir(HISTORY)
    model = _in_run_dir(MODEL)
    weights = _in_run_dir(WEIGHTS)
    checkpoint = _in_run_dir(CHECKPOINT)
    lock = _in_run_dir(TRIAL_LOCK)
    cost_calibration = property(lambda self: self.run_dir.parent / COST_CALIBRATION)  # the sweep's, shared


@dataclass(frozen=True)
class Workspace:
    """The two roots every path hangs from: artifacts (`runs`) and TensorBoard events (`eventlog`)."""

    runs: Path = Path("runs")
    eventlog: Path = Path("eventlog")

    def __post_init__(self) -> None:
        object.__setattr__(self, "runs", Path(self.runs))
        object.__setattr__(self, "eventlog", Path(self.eventlog))

    def sweep(self, experiment: str) -> "SweepPaths":
        return SweepPaths(self.runs / experiment, self.eventlog / experiment, self)

    def trial(self, experiment: str, trial_id: str) -> TrialPaths:
        return self.sweep(experiment).trial(trial_id)


@dataclass(frozen=True)
class SweepPaths:
    run_dir: Path
    log_dir: Path
    workspace: Workspace

    def trial(self, trial_id: str) -> TrialPaths:
        return TrialPaths(self.run_dir / trial_id, self.log_dir / run_name(trial_id))

    results = _in_run_dir(RESULTS)
    plots = _in_run_dir(PLOTS)
    lock = _in_run_dir(SWEEP_LOCK)
    config = _in_run_dir(SWEEP_CONFIG)
    confirm = _in_run_dir(CONFIRM)
    cost_calibration = _in_run_dir(COST_CALIBRATION)
