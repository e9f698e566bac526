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


METRICS = (
    Metric("test/accuracy", "test accuracy", "maximize", "test_accuracy"),
    Metric("test/loss", "test loss", "minimize", "test_loss"),
    Metric("val/best_accuracy", "best validation accuracy", "maximize", "best_val_accuracy"),
    Metric("val/accuracy", "validation accuracy (last epoch)", "maximize"),
    Metric("train/accuracy", "train accuracy (last epoch)", "maximize"),
    Metric("time/train_seconds", "train seconds", "minimize", "train_seconds"),
    Metric("trial/pruned_epoch", "pruned after epoch (empty: ran to the end)", "minimize"),
)
PRUNED_EPOCH = METRICS[-1]
FINAL = {m.name: m for m in METRICS if m.name}  # written once per trial, selectable as a sweep's metric


def goal_of(column: str) -> Goal:
    """A metric's goal; for other columns, losses, times and sizes are minimized, the rest maximized."""
    if column in FINAL:
        return FINAL[column].goal
    return "minimize" if re.search(r"loss|seconds|params", column) else "maximize"


def percent(metric: str) -> bool:
    """An accuracy, shown in percent (its differences in points)."""
    return metric.endswith("accuracy")
