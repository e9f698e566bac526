"""The trial record: one JSON file per trial, the single source of truth for results.

Tables (results.csv, compare) are built from records, never the other way
round. Records and every other file that others read are written atomically
(a temporary file, then os.replace), so a reader never sees half a file, even
after `kill -9`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from harness import layout
from harness.files import atomic_write_text

# The fixed set of states a trial moves through.
PENDING, RUNNING, OK, DIVERGED, FAILED = "pending", "running", "ok", "diverged", "failed"
FINISHED = (OK, DIVERGED, FAILED)


@dataclass
class TrialRecord:
    """What one trial was, did and scored."""

    trial_id: str
    experiment: str
    status: str = PENDING
    group: str = ""  # the setting's id; repeats of one setting share it
    settings: dict[str, Any] = field(default_factory=dict)  # the swept values, by dotted path
    repeat: int = 0
    seed: int = 0
    error: str | None = None
    traceback: str | None = None
    test_accuracy: float | None = None
    test_loss: float | None = None
    best_val_accuracy: float | None = None
    best_epoch: int | None = None
    epochs_run: int = 0
    resumed_from_epoch: int = 0  # the epoch the last attempt restarted from (0 = from scratch)
    steps: int = 0
    train_seconds: float | None = None
    eval_seconds: float | None = None
    seconds_per_epoch: float | None = None
    examples_per_second: float | None = None
    params: int | None = None
    started: str | None = None
    ended: str | None = None
    attempts: int = 0
    warnings: list[str] = field(default_factory=list)  # e.g. an unreadable checkpoint skipped on resume
    versions: dict[str, str] = field(default_factory=dict)
    git_commit: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def save(self, trial_dir: Path) -> None:
        atomic_write_text(Path(trial_dir) / layout.RECORD, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, trial_dir: Path) -> "TrialRecord | None":
        """The record in `trial_dir`, or None when there is none (or it is unreadable)."""
        path = Path(trial_dir) / layout.RECORD
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
