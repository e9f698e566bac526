"""The sweep's results table, always rebuilt from the trial records.

`runs/<sweep>/results.csv` has exactly one row per trial of the current plan,
swept parameters as their own columns (dotted paths), and is replaced
atomically, so pandas can read it at any moment, even mid-sweep.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pandas as pd

from harness.files import atomic_write_text
from harness.config.schema import scalar
from harness import layout
from harness.record import OK, RESULT_COLUMNS, DamagedRecord, TrialRecord

INT_COLUMNS = ["best_epoch", "epochs_run", "steps", "fused_size", "params", "seed", "repeat"]


def _load(trial_dir: Path) -> TrialRecord | None:
    try:
        return TrialRecord.load(trial_dir)
    except DamagedRecord as e:  # one bad file must not hide every other trial's result
        print(f"warning: {e} (left out)", file=sys.stderr)
        return None


def load_records(sweep_dir: Path, trial_ids: list[str] | None = None) -> list[TrialRecord]:
    """The records in `sweep_dir` (all of them, or those of `trial_ids`, in that order).

    A damaged record is left out with a warning naming it.
    """
    sweep_dir = Path(sweep_dir)
    if trial_ids is None:
        trial_ids = sorted(p.parent.name for p in sweep_dir.glob(f"*/{layout.RECORD}"))
    records = (_load(sweep_dir / t) for t in trial_ids)
    return [r for r in records if r is not None]


def table(records: list[TrialRecord]) -> pd.DataFrame:
    """One row per record: trial id, group, swept settings, then RESULT_COLUMNS."""
    param_cols: list[str] = []
    for r in records:
        param_cols += [k for k in r.settings if k not in param_cols]
    rows = [
        {"trial_id": r.trial_id, "group": r.group or r.trial_id,
         **{k: scalar(r.settings.get(k)) for k in param_cols},
         **{c: getattr(r, c) for c in RESULT_COLUMNS}}
        for r in records
    ]
    df = pd.DataFrame(rows, columns=["trial_id", "group", *param_cols, *RESULT_COLUMNS])
    return df.astype({c: "Int64" for c in INT_COLUMNS})


def write_csv(sweep_dir: Path, records: list[TrialRecord]) -> Path:
    path = Path(sweep_dir) / layout.RESULTS
    buf = io.StringIO()
    table(records).to_csv(buf, index=False)
    atomic_write_text(path, buf.getvalue())
    return path


class ResultsFile:
    """results.csv kept current through a sweep from the records in memory.

    `update` takes the record a trial just finished with and rewrites the
    table without reading every trial.json again: rebuilding from disk after
    each trial made a sweep of N trials read N*N/2 records in its main process.
    """

    def __init__(self, sweep_dir: Path, trial_ids: list[str]):
        self.sweep_dir = Path(sweep_dir)
        self.trial_ids = trial_ids  # the caller's list: rows added to it are rows of the table
        self.records = {r.trial_id: r for r in load_records(sweep_dir, trial_ids)}  # read once, at the start

    def update(self, record: TrialRecord) -> Path:
        self.records[record.trial_id] = record
        return write_csv(self.sweep_dir, [self.records[t] for t in self.trial_ids if t in self.records])


def param_columns(df: pd.DataFrame) -> list[str]:
    """The swept-parameter columns of a results table."""
    return [c for c in df.columns if c not in ("trial_id", "group", *RESULT_COLUMNS)]


def best_trial_dir(sweep_dir: Path, metric: str = "best_val_accuracy", goal: str = "maximize") -> Path:
    """The trial to use from a sweep: of the setting whose repeats score best on `metric` on average
    (the one compare ranks first), its best repeat. FileNotFoundError if no trial finished ok with it."""
    done = [r for r in load_records(sweep_dir) if r.status == OK and getattr(r, metric) is not None]
    if not done:
        raise FileNotFoundError(f"no finished trial with {metric} in {sweep_dir}")
    sign = 1 if goal == "maximize" else -1
    groups: dict[str, list[TrialRecord]] = {}
    for r in done:
        groups.setdefault(r.group or r.trial_id, []).append(r)
    mean = lambda rs: sum(getattr(r, metric) for r in rs) / len(rs)  # noqa: E731
    leader = max(groups.values(), key=lambda rs: sign * mean(rs))
    return Path(sweep_dir) / max(leader, key=lambda r: sign * getattr(r, metric)).trial_id
