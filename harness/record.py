"""The trial record: one JSON file per trial, the single source of truth for results.

Tables (results.csv, compare) are built from records, never the other way
round. Records and every other file that others read are written atomically
(a temporary file, then os.replace), so a reader never sees half a file, even
after `kill -9`.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from harness import layout
from harness.files import atomic_write_text

# The fixed set of states a trial moves through.
PENDING, RUNNING, OK, DIVERGED, FAILED, PRUNED = "pending", "running", "ok", "diverged", "failed", "pruned"
FINISHED = (OK, DIVERGED, FAILED, PRUNED)  # PRUNED: stopped early by the search strategy


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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
    node: str | None = None  # the Ray node that trained it (None: this machine)
    versions: dict[str, str] = field(default_factory=dict)
    git_commit: str | None = None

    @classmethod
    def of(cls, spec) -> "TrialRecord":
        """A blank record of a planned trial (a config.plan.TrialSpec)."""
        return cls(trial_id=spec.trial_id, experiment=spec.config.name, group=spec.group,
                   settings=dict(spec.settings), repeat=spec.repeat, seed=spec.config.train.seed)

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
