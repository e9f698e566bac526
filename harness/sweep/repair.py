"""A damaged sweep folder, found before anything trains: every damage named by its path, and handled.

Files in runs/ can be edited, truncated or replaced by hand or by a disk
error. Reading them must neither crash the sweep nor lose another trial's
result. The policy:

- The sweep's own places of the wrong kind (runs/E or eventlog/E a file,
  results.csv, .sweep.lock, eventlog/E/hparams_experiment.pb or plots/ a
  directory where a file is expected or the reverse): nothing is touched, the sweep stops with ConfigError (exit 2)
  naming each path, before any training.
- One trial's files damaged (its folder a file; trial.json unreadable, not
  JSON, not a record, or the record of another trial; config.yaml unreadable,
  not YAML or not a mapping; its lock, model, history, checkpoint or
  TensorBoard run of the wrong kind; the history an unfinished trial would
  resume with unreadable): a warning names the path and the damage, the
  trial's folder is moved aside into runs/E/.damaged/ (nothing is deleted), its
  TensorBoard run is removed (as --retry-failed does), and the trial trains
  again from scratch. Every other trial is left as it is.
"""

from __future__ import annotations

import csv
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable


from harness import layout
from harness.config import schema
from harness.config.validate import ConfigError
from harness.files import os_problem
from harness.layout import SweepPaths
from harness.record import DamagedRecord, TrialRecord
from harness.training.history_csv import parse_row

DAMAGED = layout.DAMAGED  # runs/E/.damaged/<trial id>.<time>


class DamagedConfig(ValueError):
    """A trial's saved config.yaml that exists but cannot be read as a mapping."""

    def __init__(self, path: Path, problem: str):
        self.path = Path(path)
        super().__init__(f"{path}: damaged trial config: {problem}")


def saved_config(run_dir: Path, strict: bool = True) -> dict | None:
    """The config a trial saved (config.yaml) as a mapping; None when it has none.

    A damaged file raises DamagedConfig, or (`strict=False`) reads as None.
    """
    path = Path(run_dir) / layout.CONFIG
    try:
        data = schema.read_yaml(path)
        problem = None if isinstance(data, dict) else f"must be a mapping of sections, got {type(data).__name__}"
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        problem = f"{run_dir} is a file, not a trial directory"
    except IsADirectoryError:
        problem = "is a directory, not a file"
    except OSError as e:
        problem = f"cannot read: {e.strerror or e}"
    except ConfigError as e:  # too large, not UTF-8, not YAML, too deep
        problem = f"not valid YAML: {e.problems[0]}"
    if problem is None:
        return data
    if strict:
        raise DamagedConfig(path, problem)
    return None


def sweep_problems(sweep: SweepPaths) -> list[str]:
    """The sweep's own paths that exist as the wrong kind (file vs directory), each named."""
    expect_dir = [sweep.workspace.runs, sweep.run_dir, sweep.workspace.eventlog, sweep.log_dir, sweep.plots,
                  sweep.run_dir / DAMAGED]
    expect_file = {sweep.results: "it is rebuilt from the trial records", sweep.lock: "it is only a lock",
                   sweep.log_dir / layout.SWEEP_HPARAMS: "it is written again from the config"}
    problems = [f"{p} is a file where a directory is expected; move it away" for p in expect_dir
                if p.exists() and not p.is_dir()]
    problems += [f"{p} is a directory where a file is expected; move it away ({why})"
                 for p, why in expect_file.items() if p.exists() and not p.is_file()]
    return problems


def trial_damage(sweep: SweepPaths, trial_id: str) -> tuple[TrialRecord | None, str | None]:
    """(the trial's record or None, what is damaged in its folder or None)."""
    run_dir = sweep.trial(trial_id).run_dir
    try:
        record = TrialRecord.load(run_dir)
        saved_config(run_dir)
    except (DamagedRecord, DamagedConfig) as e:
        return None, str(e)
    if record is not None and record.trial_id != trial_id:
        return None, f"{run_dir / layout.RECORD}: damaged trial record: it is the record of trial {record.trial_id!r}"
    paths = sweep.trial(trial_id)
    for path, want_dir in [(paths.lock, False), (paths.model, False), (paths.history, False),
                           (paths.checkpoint, True), (paths.log_dir, True)]:
        if path.exists() and path.is_dir() != want_dir:
            kinds = ("file", "directory") if want_dir else ("directory", "file")
            return None, f"{path}: is a {kinds[0]} where a {kinds[1]} belongs"
    if record is not None and not record.finished and (problem := history_problem(paths.history)):
        return None, problem  # a resumed trial reads its history back; a finished one keeps its result
    return record, None


def history_problem(path: Path) -> str | None:
    """What is damaged in a trial's history.csv (None when it is readable or absent)."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            parse_row(row)["epoch"]  # every row, as a resume reads it back (callbacks.EpochHistory)
    except FileNotFoundError:
        return None
    except OSError as e:
        return os_problem(e)
    except (ValueError, KeyError, TypeError, csv.Error) as e:  # not UTF-8, no epoch column, a value not a number
        why = "no epoch column" if isinstance(e, KeyError) else str(e).splitlines()[0][:100] or type(e).__name__
        return f"{path}: damaged history ({why})"
    return None


def set_aside(sweep: SweepPaths, trial_id: str) -> Path | None:
    """Move a damaged trial's folder into runs/E/.damaged/ and drop its TensorBoard run.

    Returns where the folder went (None when it had none).
    """
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    target = sweep.run_dir / DAMAGED / f"{trial_id}.{stamp}"
    n = 1
    while target.exists():
        target, n = sweep.run_dir / DAMAGED / f"{trial_id}.{stamp}.{n}", n + 1
    run_dir = sweep.trial(trial_id).run_dir
    if not (run_dir.exists() or run_dir.is_symlink()):
        target = None
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        run_dir.rename(target)
    log_dir = sweep.trial(trial_id).log_dir
    if log_dir.is_dir() and not log_dir.is_symlink():
        shutil.rmtree(log_dir, ignore_errors=True)
    elif log_dir.exists() or log_dir.is_symlink():
        log_dir.unlink()
    return target


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare(sweep: SweepPaths, trial_ids: list[str], fix: bool = True,
            warn: Callable[[str], None] = _stderr) -> dict[str, TrialRecord | None]:
    """The records of `trial_ids` (None: to run), after checking the sweep folder for damage.

    Raises ConfigError naming the sweep's own paths of the wrong kind. A
    damaged trial is warned about and (`fix`) set aside to run again; with
    `fix=False` (a dry run) nothing is moved, the warning says what would be.
    """
    problems = sweep_problems(sweep)
    if problems:
        raise ConfigError(problems, "sweep folder")
    records: dict[str, TrialRecord | None] = {}
    for trial_id in trial_ids:
        records[trial_id], damage = trial_damage(sweep, trial_id)
        if damage is None:
            continue
        run_dir = sweep.trial(trial_id).run_dir
        if not fix:
            warn(f"warning: {damage}\n  a real run moves {run_dir} into {sweep.run_dir / DAMAGED} and trains it again")
            continue
        try:
            moved = set_aside(sweep, trial_id)
        except OSError as e:
            raise ConfigError([f"{damage}; and it cannot be moved aside: {e.strerror or e}; "
                               f"move or remove {run_dir} yourself"], "sweep folder") from None
        done = f"moved {run_dir} to {moved}" if moved else f"removed {sweep.trial(trial_id).log_dir}"
        warn(f"warning: {damage}\n  {done}; the trial trains again")
    return records
