"""`python sweep.py CONFIG`: validate, plan, run (or resume) a sweep, and report.

Exit status: 0 when every trial finished ok, 1 when any diverged or failed,
2 for a bad config or command line (nothing trained), 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from harness.config import schema as config_mod
from harness.training import data as data_mod
from harness.sweep import hparams as experiment
from harness.config import plan
from harness.analysis import results
from harness.sweep import local as runner
from harness.config.schema import ConfigError
from harness.files import file_lock
from harness.sweep.progress import SweepProgress, trial_line
from harness.record import OK, TrialRecord

EPILOG = """\
examples:
  python sweep.py experiments/quick.yaml
  python sweep.py experiments/quick.yaml --workers 2
  python sweep.py experiments/quick.yaml --set train.epochs=1 --set data.limit=5000
  python sweep.py experiments/quick.yaml --dry-run          # list the trials, train nothing

Re-running the same command resumes: finished trials are kept, interrupted ones
continue from their last checkpoint, new settings of an edited sweep are added.
Afterwards: tensorboard --logdir eventlog   and   python -m harness compare runs/NAME
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="sweep.py", description="Run a sweep of MNIST trainings described by a YAML config, "
        "logging every trial to TensorBoard and collecting results in runs/NAME/results.csv.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="experiment YAML (see experiments/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a config value, e.g. --set train.lr=0.01 (repeatable; values are YAML)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="trials trained at once, each in its own process with cores/N threads (default 1)")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="artifacts root (default runs/)")
    p.add_argument("--eventlog", type=Path, default=Path("eventlog"), help="TensorBoard root (default eventlog/)")
    p.add_argument("--retry-failed", action="store_true", help="train failed and diverged trials again")
    p.add_argument("--dry-run", action="store_true", help="validate and list the trials, train nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-trial lines")
    p.add_argument("--executor", choices=("local", "ray"), default=None,
                   help="where trials run: local worker processes or Ray tasks (default: the config's "
                   "sweep.executor, else local; ray needs requirements-ray.txt)")
    p.add_argument("--ray-address", default=None, metavar="ADDRESS",
                   help="a Ray cluster to join, e.g. auto or ray://host:10001 (default: the config's "
                   "sweep.ray_address, else a local Ray instance)")
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error(f"--workers {args.workers}: must be at least 1")
    return args


def _config_changes(spec: plan.TrialSpec, run_dir: Path) -> list[str]:
    """Keys whose values differ from those a previous run of this trial used."""
    saved = run_dir / "config.yaml"
    if not saved.exists():
        return []
    before = config_mod.flatten(config_mod.parse_yaml(saved.read_text(), str(saved)) or {})
    now = config_mod.flatten(config_mod.to_dict(spec.config))
    return [f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in now if before.get(k) != now.get(k)]


def run(args: argparse.Namespace) -> int:
    raw = config_mod.load_raw(args.config, args.overrides)
    cfg, specs = plan.plan(raw, args.config)
    sweep_dir = args.runs / cfg.name
    metric = cfg.sweep.metric if cfg.sweep else None
    metric_name, goal = (metric.name, metric.goal) if metric else ("test_accuracy", "maximize")

    records = {s.trial_id: TrialRecord.load(sweep_dir / s.trial_id) for s in specs}
    changed = {s.trial_id: c for s in specs if (c := _config_changes(s, sweep_dir / s.trial_id))}
    if changed:
        tid, diffs = next(iter(changed.items()))
        raise ConfigError([f"{len(changed)} trial(s) in {sweep_dir} were started with another config, "
                           f"e.g. {tid}: " + "; ".join(diffs[:5]),
                           f"use another experiment name (--set name=...) or delete {sweep_dir} to start over"],
                          args.config)
    retry = ("failed", "diverged") if args.retry_failed else ()
    todo = [s for s in specs if not (records[s.trial_id] and records[s.trial_id].finished
                                     and records[s.trial_id].status not in retry)]
    done = len(specs) - len(todo)
    extra = sorted({p.parent.name for p in sweep_dir.glob("*/trial.json")} - {s.trial_id for s in specs})
    print(f"{cfg.name}: {len(specs)} trials" + (f" ({done} already finished, {len(todo)} to run)" if done else "")
          + (f"; {len(extra)} trial(s) of an earlier plan kept out of results.csv" if extra else ""))
    if args.dry_run:
        for s in specs:
            print(f"  {'done ' if s not in todo else 'to run'}  {s.trial_id}")
        return 0

    data_mod.load()  # verify MNIST (and build the cache) once, before any worker starts
    with file_lock(sweep_dir / ".sweep.lock", blocking=False) as mine:
        if not mine:
            raise ConfigError([f"another sweep is running on {sweep_dir}; wait for it or stop it"], args.config)
        fixed = {} if cfg.sweep and cfg.sweep.parameters else {k: None for k in experiment.CORE_HPARAMS}
        experiment.write_experiment(args.eventlog / cfg.name,
                                    experiment.experiment_pb(list(cfg.sweep.parameters) if cfg.sweep else [], fixed))
        for s in todo:  # a retried trial starts over, logs included
            if records[s.trial_id] is not None and records[s.trial_id].status in retry:
                shutil.rmtree(sweep_dir / s.trial_id)
                shutil.rmtree(args.eventlog / cfg.name / s.trial_id, ignore_errors=True)
        ids = [s.trial_id for s in specs]
        progress = SweepProgress(len(todo), metric_name, goal, args.quiet)
        for r in records.values():
            if r is not None and r.finished:
                progress.consider(r)

        table = results.ResultsFile(sweep_dir, ids)

        def on_done(spec, record):
            table.update(record)  # per-trial curves: drawn on demand by `python -m harness plot`
            progress.finished(record)

        interrupted = False
        try:
            executor = args.executor or (cfg.sweep.executor if cfg.sweep else "local")
            workers = min(args.workers, max(1, len(todo)))
            if executor == "local" and workers > runner.cpu_count():
                print(f"--workers {workers}: this machine has {runner.cpu_count()} cores; "
                      f"running {runner.cpu_count()} workers of 1 thread each")
                workers = runner.cpu_count()
            run_args = (todo, workers, args.runs, args.eventlog,
                        lambda spec: progress.started(), on_done)
            if executor == "ray":
                from harness.sweep import ray_tasks as ray_executor  # imports Ray: only when asked for

                ray_executor.execute(*run_args, address=args.ray_address or (cfg.sweep.ray_address if cfg.sweep else None))
            else:
                runner.execute(*run_args)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            progress.close()
        final = results.load_records(sweep_dir, ids)
        csv_path = results.write_csv(sweep_dir, final)  # plots: drawn on demand, `python -m harness plot`
    return report(cfg.name, final, csv_path, args, metric_name, goal, len(specs), interrupted)


def report(name: str, records: list[TrialRecord], csv_path: Path, args, metric: str, goal: str,
           planned: int, interrupted: bool) -> int:
    """The end-of-sweep summary: ranking, failures, where to look; returns the exit status."""
    from harness.analysis import compare

    finished = [r for r in records if r.finished]
    bad = [r for r in finished if r.status != OK]
    print()
    if finished:
        df = results.table(records)
        print(compare.render(compare.ranked(df, metric, goal, top=10), "table"))
        print()
    for r in bad:
        print(trial_line(r))
    state = "interrupted" if interrupted else "done"
    print(f"{name}: {state}, {len(finished)}/{planned} trials finished, {len(bad)} failed or diverged.")
    print(f"  results:     {csv_path}")
    print(f"  plots:       python -m harness plot {csv_path.parent}")
    print(f"  compare:     python -m harness compare {csv_path.parent}")
    print(f"  TensorBoard: tensorboard --logdir {args.eventlog / name}")
    if interrupted:
        print("  resume:      run the same command again")
        return 130
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except (ConfigError, data_mod.DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
