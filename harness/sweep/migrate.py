"""Trials an earlier `sweep.repeats` named otherwise, and TensorBoard runs an earlier version named by
the whole trial id: kept, under the names the sweep gives them now.

A sweep of one repeat names a trial by its setting (`hidden=128`), a sweep
of several by setting and repeat (`hidden=128,rep=0`; plan.trial_id). Raising
`repeats` from 1 to 2, or lowering it back, renames every first repeat, yet it
is the same training (same config, same seed): its folders in runs/E and
eventlog/E are renamed and its record's trial_id rewritten, so it is kept
instead of trained again. Only a trial whose saved config is the one the sweep
would now train is taken; anything else stays where it is (a trial of an
earlier plan, or the changed config the sweep then refuses).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Callable

from harness.config import schema
from harness.config.plan import Planner, earlier_ids
from harness.config.validate import ConfigError
from harness.layout import SweepPaths, run_name
from harness.record import DamagedRecord, TrialRecord
from harness.sweep import repair


@dataclass(frozen=True)
class Rename:
    old: str  # the folder's name now
    new: str  # the trial's id in this sweep
    record: TrialRecord  # as it reads once renamed


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def renames(planner: Planner, paths: SweepPaths) -> list[Rename]:
    """The trials in runs/E under the id another `sweep.repeats` gave them (only folders named that way are read)."""
    repeats = planner.config.sweep.repeats
    other_form = (lambda name: name.endswith(",rep=0")) if repeats == 1 else (lambda name: ",rep=" not in name)
    out = []
    for run_dir in sorted(paths.run_dir.glob("*/")):
        if run_dir.name.startswith(".") or not other_form(run_dir.name):
            continue
        try:
            record, saved = TrialRecord.load(run_dir), repair.saved_config(run_dir)
            spec = next(s for s in planner.specs(record.settings) if s.repeat == record.repeat)
        except (DamagedRecord, repair.DamagedConfig, ConfigError, AttributeError, StopIteration):
            continue  # no record, or not one this sweep can train: left as it is
        new = spec.trial_id
        if (record.experiment != planner.config.name or record.trial_id not in (run_dir.name, new)
                or run_dir.name not in earlier_ids(spec.group, spec.repeat) or new == run_dir.name
                or paths.trial(new).run_dir.exists() or saved is None
                or schema.flatten(saved) != schema.flatten(schema.trial_dict(spec.config))):
            continue
        out.append(Rename(run_dir.name, new, dataclasses.replace(record, trial_id=new)))
    return out


def adopt(planner: Planner, paths: SweepPaths, fix: bool = True,
          warn: Callable[[str], None] = _stderr) -> list[Rename]:
    """Rename the trials `renames` finds (`fix`; a kill at any instant resumes it) and return []; a dry
    run (`fix=False`) renames nothing and returns them, to be read as renamed."""
    found = renames(planner, paths)
    if not found:
        return []
    example = f"{found[0].old} -> {found[0].new}"
    if not fix:
        warn(f"note: {len(found)} trial(s) named under another sweep.repeats are kept under new ids "
             f"(e.g. {example}); a real run renames them")
        return found
    for move in found:
        old, new = paths.trial(move.old), paths.trial(move.new)
        try:
            if old.log_dir.is_dir() and not (new.log_dir.exists() or new.log_dir.is_symlink()):
                old.log_dir.rename(new.log_dir)
            move.record.save(old.run_dir)  # first the record names its new id (renames() accepts either),
            old.run_dir.rename(new.run_dir)  # then the folder follows
        except OSError as e:
            raise ConfigError([f"cannot rename {old.run_dir} to {new.run_dir}: {e.strerror or e}"],
                              "sweep folder") from None
    warn(f"note: kept {len(found)} trial(s) named under another sweep.repeats, renamed (e.g. {example})")
    return []


def short_runs(paths: SweepPaths, warn: Callable[[str], None] = _stderr) -> None:
    """Rename eventlog/E's runs named by their whole trial id (before layout.run_name) to their short
    name, so a resumed trial's events stay one run; a run that has both names is left as it is. A
    convenience: a run that cannot be renamed is said and left (its trial writes the short run anew)."""
    if not paths.log_dir.is_dir():
        return
    for old in sorted(paths.log_dir.iterdir()):
        new = paths.log_dir / run_name(old.name)
        if new != old and old.is_dir() and not old.is_symlink() and not old.name.startswith(".") and not new.exists():
            try:
                old.rename(new)
            except OSError as e:
                warn(f"note: cannot rename the TensorBoard run {old} to {new} ({e.strerror or e}): left as it is")
