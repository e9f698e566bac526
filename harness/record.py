"""The trial record: one JSON file per trial, the single source of truth for results.

Tables (results.csv, compare) are built from records, never the other way
round. Records and every other file that others read are written atomically
(a temporary file, then os.replace), so a reader never sees half a file, even
after `kill -9`. A record damaged anyway (edited by hand, a disk error, a
directory where the file should be) is never half-loaded: `load` raises
DamagedRecord saying which file and what is wrong with it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from datetime import datetime, timezone
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from harness import layout
from harness.files import atomic_write_text, read_json

# The fixed set of states a trial moves through.
PENDING, RUNNING, OK, DIVERGED, FAILED, PRUNED = "pending", "running", "ok", "diverged", "failed", "pruned"
FINISHED = (OK, DIVERGED, FAILED, PRUNED)  # PRUNED: stopped early by the search strategy
STATES = (PENDING, RUNNING, *FINISHED)
_TRIAL_ID = re.compile(r"[A-Za-z0-9_][^/\\\x00-\x1f]*")  # one path component (see plan.setting_id)


class DamagedRecord(ValueError):
    """A trial.json that exists but cannot be used: unreadable, not JSON, or fields of the wrong type."""

    def __init__(self, path: Path, problems: list[str]):
        self.path, self.problems = Path(path), problems
        super().__init__(f"{path}: damaged trial record: " + "; ".join(problems))


def column(default=None):
    """A record field that is also a column of the results table."""
    return field(default=default, metadata={"column": True})


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class TrialRecord:
    """What one trial was, did and scored."""

    trial_id: str
    experiment: str
    group: str = ""  # the setting's id; repeats of one setting share it
    settings: dict[str, Any] = field(default_factory=dict)  # the swept values, by dotted path
    # The results table's columns (harness/analysis/results.py), in its order:
    status: str = column(PENDING)
    test_accuracy: float | None = column()
    test_loss: float | None = column()
    best_val_accuracy: float | None = column()
    best_epoch: int | None = column()
    epochs_run: int = column(0)
    steps: int = column(0)
    train_seconds: float | None = column()  # its share of the wall time it trained in (a fused group's, split)
    cost_seconds: float | None = column()  # steps x CPU seconds a step alone: the same in any group (training/cost.py)
    train_flops: int | None = column()  # the FLOPs of its training steps, counted (training/cost.py)
    eval_seconds: float | None = column()
    seconds_per_epoch: float | None = column()
    examples_per_second: float | None = column()
    cpu_seconds: float | None = column()  # the process's CPU time for the trial (a fused group's, shared)
    fused_size: int = column(1)  # trials trained together as one fused model (1: alone); see training/fusion/loop.py
    params: int | None = column()
    seed: int = column(0)
    repeat: int = column(0)
    dataset: str = column("mnist")  # data.dataset: what it trained and was tested on
    started: str | None = column()
    ended: str | None = column()
    error: str | None = column()
    # The record only:
    traceback: str | None = None
    resumed_from_epoch: int = 0  # the epoch the last attempt restarted from (0 = from scratch)
    attempts: int = 0
    node: str | None = None  # the Ray node that trained it (None: this machine)
    warnings: list[str] = field(default_factory=list)  # e.g. an unreadable checkpoint skipped on resume
    versions: dict[str, str] = field(default_factory=dict)
    git_commit: str | None = None

    @classmethod
    def of(cls, spec) -> "TrialRecord":
        """A blank record of a planned trial (a config.plan.TrialSpec)."""
        return cls(trial_id=spec.trial_id, experiment=spec.config.name, group=spec.group,
                   settings=dict(spec.settings), repeat=spec.repeat, seed=spec.config.train.seed,
                   dataset=spec.config.data.dataset)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def save(self, trial_dir: Path) -> None:
        atomic_write_text(Path(trial_dir) / layout.RECORD, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, trial_dir: Path) -> "TrialRecord | None":
        """The record in `trial_dir`, None when there is none; DamagedRecord when it cannot be used."""
        path = Path(trial_dir) / layout.RECORD
        try:
            data = read_json(path)
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            raise DamagedRecord(path, [f"{trial_dir} is a file, not a trial directory"]) from None
        except IsADirectoryError:
            raise DamagedRecord(path, ["is a directory, not a file"]) from None
        except OSError as e:
            raise DamagedRecord(path, [f"cannot read: {e.strerror or e}"]) from None
        except ValueError as e:  # too large, not UTF-8, not JSON, nested too deeply
            raise DamagedRecord(path, [str(e).removeprefix(f"{path}: ")]) from None
        problems = record_problems(data)
        if problems:
            raise DamagedRecord(path, problems)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


RESULT_COLUMNS = [f.name for f in fields(TrialRecord) if f.metadata.get("column")]
SECONDS = ("cost_seconds", "train_seconds")  # what a trial cost in seconds, best first (see seconds_field)


def seconds_field(filled: typing.Callable[[str], bool]) -> str:
    """The field trials' cost is shown and compared by: cost_seconds when `filled(name)` (some trial has
    it), else train_seconds, for records and results from before cost_seconds. One field for all the
    trials compared: a group's share of wall time and a cost alone are not to be mixed."""
    return next((name for name in SECONDS if filled(name)), SECONDS[-1])


def _type_problem(tp, value) -> str | None:
    """What is wrong with `value` as a field of type `tp` (a record's own simple types), or None."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if value is None:
            return None
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    origin = typing.get_origin(tp) or tp
    if origin is dict:
        return None if isinstance(value, dict) and all(isinstance(k, str) for k in value) else "must be an object"
    if origin is list:
        return None if isinstance(value, list) and all(isinstance(x, str) for x in value) else "must be a list of strings"
    good = {int: lambda v: isinstance(v, int) and not isinstance(v, bool),
            float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            str: lambda v: isinstance(v, str)}[origin](value)
    return None if good else f"must be {dict(zip((int, float, str), ('an integer', 'a number', 'a string')))[origin]}"


def record_problems(data: Any) -> list[str]:
    """Everything that keeps `data` (parsed trial.json) from being a TrialRecord; [] when it is one.

    Unknown keys are ignored (a newer harness may add some); required keys,
    field types, the status and a trial id that could be a path are checked.
    """
    if not isinstance(data, dict):
        return [f"must be a JSON object, got {type(data).__name__}"]
    hints = typing.get_type_hints(TrialRecord)
    problems = [f"{f.name}: missing" for f in fields(TrialRecord)
                if f.name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    for name, tp in hints.items():
        if name in data and (why := _type_problem(tp, data[name])):
            problems.append(f"{name} = {data[name]!r:.60}: {why}")
    if "status" in data and data["status"] not in STATES:
        problems.append(f"status = {data['status']!r:.60}: must be one of {', '.join(STATES)}")
    if isinstance(data.get("trial_id"), str) and not _TRIAL_ID.fullmatch(data["trial_id"]):
        problems.append(f"trial_id = {data['trial_id']!r:.60}: must be one directory name")
    return problems
