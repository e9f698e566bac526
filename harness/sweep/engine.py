"""`run_sweep`: run or resume a sweep from Python, the function `sweep.py` is a thin shell around.

    from harness import run_sweep
    outcome = run_sweep("experiments/quick.yaml", overrides=["train.epochs=1"], workers=2)
    outcome.table()          # the results as a pandas DataFrame (also runs/quick/results.csv)

A sweep is planned and validated whole before anything trains; finished trials
are kept (re-running resumes), trials of a changed base config are refused,
one sweep at a time may run on a folder (a lock), and results.csv, the
HParams experiment and the plots are kept current as trials finish.
"""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import yaml

from harness.analysis import results
from harness.config import plan as plan_mod
from harness.config import schema
from harness.config.plan import TrialSpec
from harness.config.validate import ConfigError
from harness.files import atomic_write_text, file_lock
from harness.layout import SweepPaths, Workspace, shared_runs
from harness.record import DIVERGED, FAILED, OK, PRUNED, TrialRecord
from harness.racing import confirm
from harness.sweep import hparams_union, mainguard, migrate, preflight, repair, scheduler
from harness.training.fusion import packing
from harness.sweep.progress import SweepProgress
from harness.search.pruners import pruner_for
from harness.search.strategies import Strategy, SweepPlan, strategy_for
from harness.training import data

RETRIED = (FAILED, DIVERGED)  # what --retry-failed trains again (never a pruned trial)


@dataclass
class SweepOutcome:
    """What a sweep run did: the plan, the records of its trials, and the exit status it implies."""

    plan: SweepPlan
    records: list[TrialRecord] = field(default_factory=list)
    interrupted: bool = False
    verdict: dict | None = None  # sweep.confirm: the race's answer (runs/E/confirm.json)

    @property
    def paths(self) -> SweepPaths:
        return self.plan.paths

    @property
    def size(self) -> int:
        """Trials in the whole sweep: the plan's, a finished race counted as the trials it needed."""
        if self.verdict and self.verdict["state"] == "done":
            return self.plan.size - confirm.most(self.plan.strategy.planner) + self.verdict["confirmation_trials"]
        return self.plan.size

    @property
    def bad(self) -> list[TrialRecord]:
        return [r for r in self.records if r.finished and r.status not in (OK, PRUNED)]

    @property
    def exit_status(self) -> int:
        """0 when every trial finished ok (or was pruned), 1 when any diverged or failed, 130 when interrupted."""
        return 130 if self.interrupted else 1 if self.bad else 0

    def table(self) -> pd.DataFrame:
        return results.table(self.records)


def load_config(config: str | Path | dict | schema.ExperimentConfig, overrides: list[str] = ()) -> tuple[dict, str]:
    """The raw config (plain data, `--set` overrides applied) and its source for error messages."""
    if isinstance(config, (str, Path)):
        return schema.load_raw(config, overrides), str(config)
    if isinstance(config, schema.ExperimentConfig):
        raw = {**schema.trial_dict(config), "sweep": config.sweep.to_raw()}
    elif isinstance(config, dict):
        raw = copy.deepcopy(config)
    else:
        raise TypeError(f"config: a path, a mapping or an ExperimentConfig, not {type(config).__name__}")
    return schema.apply_overrides(raw, list(overrides)), "config"


def plan_sweep(strategy: Strategy, retry_failed: bool = False, fix: bool = True) -> SweepPlan:
    """Find what of the validated sweep is already done; raises ConfigError for a changed config.

    Damaged trial folders are reported and (`fix`) set aside to run again (harness/sweep/repair.py).
    """
    paths, source = strategy.paths, strategy.planner.source
    if shared := shared_runs(s.trial_id for s in strategy.planned()):
        a, b, run = shared[0]
        raise ConfigError([f"trials {a} and {b} would share the TensorBoard run {paths.log_dir / run}: "
                           "make the swept values differ by more than a leading 0"], source)
    if fix:
        migrate.short_runs(paths)  # runs named by the whole trial id (before layout.run_name): shortened
    moved = migrate.adopt(strategy.planner, paths, fix)  # named under another sweep.repeats: renamed (a dry run: read so)
    found = {**repair.prepare(paths, strategy.folders(), fix), **{m.new: m.record for m in moved}}
    specs = strategy.trials(found)
    records = {s.trial_id: found.get(s.trial_id) for s in specs}
    changed = {s.trial_id: c for s in specs if (c := _config_changes(s, paths))}
    if changed:
        tid, diffs = next(iter(changed.items()))
        raise ConfigError([f"{len(changed)} trial(s) in {paths.run_dir} were started with another config, "
                           f"e.g. {tid}: " + "; ".join(diffs[:5]),
                           f"use another experiment name (--set name=...) or delete {paths.run_dir} to start over"],
                          source)
    retry = RETRIED if retry_failed else ()
    todo = [s for s in specs if not ((r := records[s.trial_id]) and r.finished and r.status not in retry)]
    planned = {s.trial_id for s in specs}
    strays = sorted({p.parent.name for p in paths.run_dir.glob("*/trial.json")} - planned - {m.old for m in moved})
    return SweepPlan(strategy, specs, records, todo, strays)


def _config_changes(spec: TrialSpec, paths: SweepPaths) -> list[str]:
    """Keys whose values differ from those a previous run of this trial used."""
    saved = repair.saved_config(paths.trial(spec.trial_id).run_dir, strict=False)  # damaged: set aside by prepare
    if not saved:
        return []
    before = schema.flatten(saved)
    now = schema.flatten(schema.trial_dict(spec.config))
    return [f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in now if before.get(k) != now.get(k)]


def run_sweep(config: str | Path | dict | schema.ExperimentConfig, *, overrides: list[str] = (),
              runs: str | Path = "runs", eventlog: str | Path = "eventlog", workers: int = 1,
              executor: str | None = None, ray_address: str | None = None, retry_failed: bool = False,
              dry_run: bool = False, quiet: bool = False, echo: Callable[[str], Any] | None = print) -> SweepOutcome:
    """Run (or resume) the sweep `config` describes and return its outcome.

    `config` is a YAML path, a mapping shaped like the YAML, or an
    ExperimentConfig; `overrides` are `key.path=value` strings as for `--set`.
    `executor` is "local" (worker processes) or "ray" (default: the config's
    sweep.executor). As `sweep.py` does, it shows a progress bar and a line per trial (`quiet=True`: not)
    and prints the plan's one-line summary and warnings (`echo` receives them instead; None: silent). Raises
    ConfigError (nothing trained) for a bad config, MissingMainGuard when called from a script's
    top level without `if __name__ == "__main__":` (workers would re-run it); KeyboardInterrupt is caught
    and reported as `outcome.interrupted`.
    """
    say = echo or (lambda text: None)
    raw, source = load_config(config, overrides)
    planner = plan_mod.Planner(raw, source)
    paths = Workspace(Path(runs), Path(eventlog)).sweep(planner.config.name)
    strategy = confirm.wrap(strategy_for(planner, paths))  # sweep.confirm: the search, then a race
    strategy.planned()  # every trial it can have validated, before anything is written
    fuse = packing.limit(planner.config.sweep.fuse)
    if dry_run:
        plan = plan_sweep(strategy, retry_failed, fix=False)
        say(plan.summary())
        _say_fusion(plan, fuse, say)
        return SweepOutcome(plan, [r for s in plan.specs if (r := plan.records[s.trial_id]) is not None])
    executor, ray_address = executor or planner.config.sweep.executor, ray_address or planner.config.sweep.ray_address
    if executor == "local":
        mainguard.check()  # before any worker is spawned to re-import an unguarded script
    # Before the lock and any write: folders of the wrong kind, a read-only or full disk, an unreachable Ray.
    preflight.check(paths, executor, ray_address)
    asked = planner.config
    for dataset in sorted({asked.data.dataset, *asked.sweep.values_of("data.dataset")}):
        data.load(dataset=dataset)  # verify each dataset (and build its cache) once, before any worker starts
    with file_lock(paths.lock, blocking=False) as mine:
        if not mine:
            raise ConfigError([f"another sweep is running on {paths.run_dir}; wait for it or stop it"], planner.config.name)
        plan = plan_sweep(strategy, retry_failed)
        say(plan.summary())
        _say_fusion(plan, fuse, say)
        outcome = SweepOutcome(plan)
        cfg = plan.config
        hparams_union.register_sweep(paths.workspace.eventlog, cfg)  # one HParams dashboard over every sweep
        atomic_write_text(paths.config, yaml.safe_dump(load_config(cfg)[0], sort_keys=False))
        for s in plan.todo:  # a retried trial starts over, logs included
            if (r := plan.records[s.trial_id]) is not None and r.status in RETRIED:
                shutil.rmtree(paths.trial(s.trial_id).run_dir)
                shutil.rmtree(paths.trial(s.trial_id).log_dir, ignore_errors=True)
        ids = [s.trial_id for s in plan.specs]
        outcome.interrupted = _execute(plan, ids, workers, executor, ray_address, quiet, say, fuse)
        outcome.records = strategy.order(results.load_records(paths.run_dir, ids))
        results.write_csv(paths.run_dir, outcome.records)  # plots: on demand (python -m harness plot), never waited for
        if cfg.sweep.confirm:
            outcome.verdict = confirm.write_verdict(strategy, outcome.records)
    return outcome


def _say_fusion(plan: SweepPlan, fuse: int, say: Callable[[str], Any]) -> None:
    line = packing.plan_line(plan.todo, fuse, plan.strategy.chooses)
    if line:
        say(f"  {line}")


def _execute(plan: SweepPlan, ids: list[str], workers: int, executor: str | None,
             ray_address: str | None, quiet: bool, say: Callable[[str], Any], fuse: int = 1) -> bool:
    """Train the strategy's trials, keeping results.csv (rows `ids`, extended as trials start) and
    the progress display current; True if interrupted."""
    cfg, paths, metric = plan.config, plan.paths, plan.config.sweep.metric
    progress = SweepProgress(plan.to_run, metric.name, metric.goal, quiet)
    table = results.ResultsFile(paths.run_dir, ids)  # kept current from the records in memory

    def started(spec: TrialSpec) -> None:
        if spec.trial_id not in ids:  # (a trial the strategy chose as it went: the table grows with it)
            ids.append(spec.trial_id)
        progress.started()
    for r in plan.records.values():
        if r is not None and r.finished:
            progress.consider(r)

    def finished(spec: TrialSpec, record: TrialRecord) -> None:
        table.update(record)
        progress.finished(record)

    try:
        known = plan.known  # read once: the strategy and the pruner are rebuilt from the same records
        plan.strategy.start(plan.todo, known)
        pruner = confirm.search_pruner(pruner_for(cfg.sweep, paths, known), cfg.sweep)
        runner = _executor(executor, min(workers, slots(plan, fuse)), paths.workspace, ray_address, say)
        scheduler.run(packing.Packer(plan.strategy, fuse), pruner, runner, paths.workspace,
                      scheduler.Callbacks(started=started, finished=finished))
    except KeyboardInterrupt:
        return True
    finally:
        progress.close()
    return False


def slots(plan: SweepPlan, fuse) -> int:
    """The workers the sweep can keep busy: a fused group takes one; a race's trials count too (a race on a
    finished search has no search trials to do, and its rounds are all it trains)."""
    if plan.strategy.chooses:
        return max(1, plan.to_run)
    return max(1, sum(packing.packing(plan.todo, fuse)) + max(0, plan.to_run - len(plan.todo)))


def _executor(kind: str, workers: int, workspace: Workspace, ray_address: str | None,
              say: Callable[[str], Any]) -> scheduler.Executor:
    if kind == "ray":
        from harness.sweep.ray_tasks import RayExecutor  # imports Ray: only when asked for

        return RayExecutor(workers, workspace, ray_address)
    from harness.sweep.local import LocalExecutor, cpu_count

    if workers > cpu_count():
        say(f"--workers {workers}: this machine has {cpu_count()} cores; running {cpu_count()} workers of 1 thread each")
        workers = cpu_count()
    return LocalExecutor(workers, workspace)
