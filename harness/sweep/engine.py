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
from typing import Any, Callable, Iterable

import pandas as pd
import yaml

from harness.analysis import results
from harness.config import plan as plan_mod
from harness.config import schema
from harness.config.plan import TrialSpec
from harness.config.validate import ConfigError
from harness.files import atomic_write_text, file_lock
from harness.layout import SweepPaths
from harness.record import DIVERGED, FAILED, OK, PRUNED, TrialRecord
from harness.sweep import confirm, hparams_union, repair, scheduler
from harness.sweep.progress import SweepProgress
from harness.sweep.strategies import Planned, Strategy
from harness.training import data

RETRIED = (FAILED, DIVERGED)  # what --retry-failed trains again (never a pruned trial)


@dataclass
class SweepPlan:
    """A validated sweep and where each of its trials stands."""

    planner: plan_mod.Planner
    specs: list[TrialSpec]
    paths: SweepPaths
    records: dict[str, TrialRecord | None]  # trial id -> record on disk, before this run
    todo: list[TrialSpec]
    strays: list[str]  # trials on disk that the plan no longer has

    @property
    def config(self) -> schema.ExperimentConfig:
        return self.planner.config

    @property
    def adaptive(self) -> bool:
        """Whether a model-based search or a pruner decides what trains (Optuna), not the plan alone."""
        return self.config.sweep.method == "tpe" or self.config.sweep.pruner.kind != "none"

    @property
    def size(self) -> int:
        """Trials in the whole sweep (for tpe, its budget)."""
        sweep = self.config.sweep
        search = sweep.trials * sweep.repeats if sweep.method == "tpe" else len(self.search_specs)
        return search + confirm.most(self.planner)

    @property
    def to_run(self) -> int:
        """Trials this run will start, at most (a tpe sweep's new settings included)."""
        sweep = self.config.sweep
        known = len(self.search_todo) + confirm.trials_left(self)
        if sweep.method != "tpe":
            return known
        return known + max(0, sweep.trials - len({s.group for s in self.specs})) * sweep.repeats

    @property
    def search_todo(self) -> list[TrialSpec]:
        return [s for s in self.todo if s.repeat < self.config.sweep.repeats]

    @property
    def search_specs(self) -> list[TrialSpec]:
        """The search's trials (a race's further seeds left out)."""
        return [s for s in self.specs if s.repeat < self.config.sweep.repeats]

    def summary(self) -> str:
        return self._search_summary() + confirm.summary(self)

    def _search_summary(self) -> str:
        done = len(self.search_specs) - len(self.search_todo)
        sweep = self.config.sweep
        if sweep.method == "tpe":
            head = (f"{self.config.name}: tpe search of {sweep.trials} settings x {sweep.repeats} repeat(s)"
                    f" over {len(sweep.parameters)} parameters" + (f", pruner {sweep.pruner.kind}"
                                                                    if sweep.pruner.kind != "none" else ""))
            return head + (f" ({done} trials already finished, up to {self.to_run} to run)" if self.search_specs else "")
        return (f"{self.config.name}: {len(self.search_specs)} trials"
                + (f", pruner {sweep.pruner.kind}" if sweep.pruner.kind != "none" else "")
                + (f" ({done} already finished, {len(self.search_todo)} to run)" if done else "")
                + (f"; {len(self.strays)} trial(s) of an earlier plan kept out of results.csv" if self.strays else ""))


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
            return self.plan.size - confirm.most(self.plan.planner) + self.verdict["confirmation_trials"]
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


def plan_sweep(planner: plan_mod.Planner, paths: SweepPaths, retry_failed: bool = False,
               fix: bool = True) -> SweepPlan:
    """Find what of the validated sweep is already done; raises ConfigError for a changed config.

    Damaged trial folders are reported and (`fix`) set aside to run again (harness/sweep/repair.py).
    """
    cfg, source = planner.config, planner.source
    if cfg.sweep.method == "tpe":  # its trials are those on disk
        on_disk = sorted(d.name for d in paths.run_dir.glob("*/") if not d.name.startswith("."))
        found = repair.prepare(paths, on_disk, fix)
        specs = _searched_so_far(planner, found.values())
        records = {s.trial_id: found.get(s.trial_id) for s in specs}
    else:
        specs = planner.plan()
        records = repair.prepare(paths, [s.trial_id for s in specs], fix)
    if cfg.sweep.confirm:  # the race's trials so far: further repeats of the search's settings
        extra = confirm.on_disk(planner, paths, specs)
        records.update(repair.prepare(paths, [s.trial_id for s in extra], fix))
        specs = specs + extra
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
    strays = sorted({p.parent.name for p in paths.run_dir.glob("*/trial.json")} - planned)
    return SweepPlan(planner, specs, paths, records, todo, strays)


def _searched_so_far(planner: plan_mod.Planner, records: Iterable[TrialRecord | None]) -> list[TrialSpec]:
    """A tpe sweep's trials so far: every repeat of each setting the records say it started, in that order."""
    first: dict[str, tuple[tuple[str, str], list[TrialSpec]]] = {}  # setting -> (when its first trial started, trials)
    for record in records:
        if record is not None and record.experiment == planner.config.name:
            specs = planner.specs(record.settings)
            key, group = (record.started or "", specs[0].group), specs[0].group
            if record.trial_id in {s.trial_id for s in specs} and (group not in first or key < first[group][0]):
                first[group] = (key, specs)
    return [spec for _, specs in sorted(first.values(), key=lambda f: f[0]) for spec in specs]


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
              dry_run: bool = False, quiet: bool = True, echo: Callable[[str], Any] | None = None) -> SweepOutcome:
    """Run (or resume) the sweep `config` describes and return its outcome.

    `config` is a YAML path, a mapping shaped like the YAML, or an
    ExperimentConfig; `overrides` are `key.path=value` strings as for `--set`.
    `executor` is "local" (worker processes) or "ray" (default: the config's
    sweep.executor). `quiet=False` shows a progress bar and a line per trial;
    `echo` receives the plan's one-line summary (and warnings). Raises
    ConfigError (nothing trained) for a bad config; KeyboardInterrupt is caught
    and reported as `outcome.interrupted`.
    """
    say = echo or (lambda text: None)
    raw, source = load_config(config, overrides)
    planner = plan_mod.Planner(raw, source)
    paths = SweepPaths.of(planner.config.name, runs, eventlog)
    if dry_run:
        plan = plan_sweep(planner, paths, retry_failed, fix=False)
        say(plan.summary())
        return SweepOutcome(plan, [r for s in plan.specs if (r := plan.records[s.trial_id]) is not None])
    problems = repair.sweep_problems(paths)  # e.g. .sweep.lock made a directory: before taking the lock
    if problems:
        raise ConfigError(problems, "sweep folder")
    data.load()  # verify MNIST (and build the cache) once, before any worker starts
    with file_lock(paths.lock, blocking=False) as mine:
        if not mine:
            raise ConfigError([f"another sweep is running on {paths.run_dir}; wait for it or stop it"], planner.config.name)
        plan = plan_sweep(planner, paths, retry_failed)
        say(plan.summary())
        outcome = SweepOutcome(plan)
        cfg = plan.config
        hparams_union.register_sweep(paths.log_dir.parent, cfg)  # one HParams dashboard over every sweep
        atomic_write_text(paths.config, yaml.safe_dump(load_config(cfg)[0], sort_keys=False))
        for s in plan.todo:  # a retried trial starts over, logs included
            if (r := plan.records[s.trial_id]) is not None and r.status in RETRIED:
                shutil.rmtree(paths.trial(s.trial_id).run_dir)
                shutil.rmtree(paths.trial(s.trial_id).log_dir, ignore_errors=True)
        ids = [s.trial_id for s in plan.specs]
        outcome.interrupted = _execute(plan, _strategy(plan), ids, workers, executor, ray_address, quiet, say)
        outcome.records = results.load_records(paths.run_dir, ids)
        if cfg.sweep.method == "tpe":  # the rows in the order a resumed sweep finds them
            order = {s.trial_id: i for i, s in enumerate(_searched_so_far(planner, outcome.records))}
            outcome.records.sort(key=lambda r: order.get(r.trial_id, len(order)))
        results.write_csv(paths.run_dir, outcome.records)  # plots: on demand (python -m harness plot), never waited for
        if cfg.sweep.confirm:
            outcome.verdict = confirm.write_verdict(plan.planner, paths, outcome.records)
    return outcome


def _strategy(plan: SweepPlan) -> Strategy:
    search = _search(plan)
    if not plan.config.sweep.confirm:
        return search
    return confirm.Confirm(search, plan.planner, [r for r in plan.records.values() if r is not None])


def _search(plan: SweepPlan) -> Strategy:
    todo = plan.search_todo  # a race's interrupted seeds: the race resumes them
    if not plan.adaptive:
        return Planned(todo)
    from harness.sweep.search import OptunaSearch  # imports Optuna: only when asked for

    known = [(s, r) for s in plan.search_specs if (r := plan.records[s.trial_id]) is not None and s not in plan.todo]
    return OptunaSearch(plan.planner, plan.paths, todo, known)


def _execute(plan: SweepPlan, strategy: Strategy, ids: list[str], workers: int, executor: str | None,
             ray_address: str | None, quiet: bool, say: Callable[[str], Any]) -> bool:
    """Train the strategy's trials, keeping results.csv (rows `ids`, extended as trials start) and
    the progress display current; True if interrupted."""
    cfg, paths, metric = plan.config, plan.paths, plan.config.sweep.metric
    progress = SweepProgress(plan.to_run, metric.name, metric.goal, quiet)
    table = results.ResultsFile(paths.run_dir, ids)  # kept current from the records in memory

    def started(spec: TrialSpec) -> None:
        if spec.trial_id not in ids:  # (a tpe trial: the table grows with the search)
            ids.append(spec.trial_id)
        progress.started()
    for r in plan.records.values():
        if r is not None and r.finished:
            progress.consider(r)

    def finished(spec: TrialSpec, record: TrialRecord) -> None:
        table.update(record)
        progress.finished(record)

    try:
        runner = _executor(executor or cfg.sweep.executor, min(workers, max(1, plan.to_run)),
                           paths, ray_address or cfg.sweep.ray_address, strategy.prunes, say)
        scheduler.run(strategy, runner, paths.run_dir.parent, paths.log_dir.parent,
                      scheduler.Callbacks(started=started, finished=finished))
    except KeyboardInterrupt:
        return True
    finally:
        progress.close()
    return False


def _executor(kind: str, workers: int, paths: SweepPaths, ray_address: str | None, report_epochs: bool,
              say: Callable[[str], Any]) -> scheduler.Executor:
    runs, eventlog = paths.run_dir.parent, paths.log_dir.parent
    if kind == "ray":
        from harness.sweep.ray_tasks import RayExecutor  # imports Ray: only when asked for

        return RayExecutor(workers, runs, eventlog, ray_address, report_epochs)
    from harness.sweep.local import LocalExecutor, cpu_count

    if workers > cpu_count():
        say(f"--workers {workers}: this machine has {cpu_count()} cores; running {cpu_count()} workers of 1 thread each")
        workers = cpu_count()
    return LocalExecutor(workers, runs, eventlog, report_epochs)

