"""The metrics a trial reports, in one table: name, display name, goal, TensorBoard tag.

`name` is the trial record's attribute (and results.csv column) for metrics
known at the end of a trial; per-epoch metrics have only a tag. The search
space (which metric a sweep optimises), the results table, the HParams
experiment and the trial's summaries all read this table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Goal = Literal["maximize", "minimize"]


@dataclass(frozen=True)
class Metric:
    tag: str  # TensorBoard scalar tag
    display: str  # as the HParams dashboard shows it
    goal: Goal
    name: str | None = None  # the record attribute; None for per-epoch metrics
    dashboard: bool = True  # offered as an HParams metric (unless a sweep chooses on it)


# TensorBoard's Time Series and Scalars order tag groups (the part before the first "/") by name, and
# open on the first. So the groups are named to sort as a reader needs them: the learning curves first
# (accuracy, then loss; train beside validation), the other scalars, the test set (touched once), its
# images, and the per-layer statistics last.
CURVES = {"accuracy": "curves/accuracy_train", "val_accuracy": "curves/accuracy_val",
          "loss": "curves/loss_train", "val_loss": "curves/loss_val"}  # Keras' log keys -> tags
STEP_LOSS, STEP_ACCURACY = "steps/loss", "steps/accuracy"  # running means within an epoch, every N steps
LEARNING_RATE, EPOCH = "schedule/learning_rate", "schedule/epoch"
SECONDS_PER_EPOCH, EXAMPLES_PER_SECOND = "run_time/seconds_per_epoch", "run_time/examples_per_second"
TEST_IMAGES = "test_digits"  # + /confusion_matrix, /misclassified: after test's scalars
LAYERS = "z_layers"  # + /<layer>/weights|biases|activations|preactivations[/mean|stddev|min|max]

PRUNED_EPOCH = Metric("selection/pruned_epoch", "pruned after epoch (empty: ran to the end)", "minimize")
METRICS = (
    Metric("selection/best_val_accuracy", "best validation accuracy", "maximize", "best_val_accuracy"),
    Metric(CURVES["val_accuracy"], "validation accuracy (last epoch)", "maximize"),
    Metric(CURVES["accuracy"], "train accuracy (last epoch)", "maximize"),
    Metric("run_time/cost_seconds", "cost seconds (its steps, trained alone)", "minimize", "cost_seconds"),
    # A fused member's share of its group's wall time: how trials were grouped, not what a setting costs.
    Metric("run_time/train_seconds", "train seconds (share of its group's)", "minimize", "train_seconds",
           dashboard=False),
    PRUNED_EPOCH,
    Metric("test/accuracy", "test accuracy", "maximize", "test_accuracy"),
    Metric("test/loss", "test loss", "minimize", "test_loss"),
)
FINAL = {m.name: m for m in METRICS if m.name}  # written once per trial, selectable as a sweep's metric


def dashboard_order(metric: str | None, pruned: bool = True) -> list[Metric]:
    """METRICS as the HParams dashboard lists them: the sweep's `metric` first (Parallel Coordinates
    colours by the first), the test set's last, so the first view leads to the choice made on validation.

    The dashboard shows the first five metrics until more are ticked: without a pruner (`pruned`
    False) no trial has a pruned epoch, and test accuracy is the fifth. Wall-time shares of fused
    groups are left out (see `dashboard`) unless they are the sweep's metric.
    """
    first = [m for m in METRICS if m.name == metric]
    offered = [m for m in METRICS if (m.dashboard or m in first) and (pruned or m is not PRUNED_EPOCH)]
    return first + [m for m in offered if m not in first]


def goal_of(column: str) -> Goal:
    """A metric's goal; for other columns, losses, times and sizes are minimized, the rest maximized."""
    if column in FINAL:
        return FINAL[column].goal
    return "minimize" if re.search(r"loss|seconds|params", column) else "maximize"


def percent(metric: str) -> bool:
    """An accuracy, shown in percent (its differences in points)."""
    return metric.endswith("accuracy")
