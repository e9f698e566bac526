"""The two commands that train: `python sweep.py CONFIG` and `python -m harness confirm runs/E`.

Each parses its command line, runs the sweep (harness.sweep.engine) and prints
the same report. `confirm` re-runs a sweep from the config it last ran with
(runs/E/sweep.yaml) with `sweep.confirm` set (from that config, then its
options): the search's trials are all there, so only the race
(harness/racing/) trains. Resumable like any sweep: the same command
continues a race interrupted by Ctrl-C or kill -9.

Exit status: 0 when every trial finished ok, 1 when any diverged or failed,
2 for a bad config, sweep folder or command line (nothing trained), 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


from harness.config import schema
from harness.config.validate import ConfigError
from harness.layout import SWEEP_CONFIG
from harness.training.fusion import packing
from harness.files import os_problem
from harness.sweep.engine import SweepOutcome, run_sweep
from harness.record import OK, PRUNED
from harness.sweep.progress import trial_line
from harness.sweep.scheduler import StrategyError
from harness.training.data import DataError

SWEEP_EPILOG = """\
examples:
  python sweep.py experiments/quick.yaml
  python sweep.py experiments/quick.yaml --workers 2
  python sweep.py experiments/quick.yaml --set train.epochs=1 --set data.limit=5000 --set name=quick-small
  python sweep.py experiments/quick.yaml --set 'sweep.parameters.model.dropout=[0.0,0.5]'
  python sweep.py experiments/quick.yaml --dry-run          # list the trials, train nothing

Re-running the same command resumes: finished trials are kept, interrupted ones
continue from their last checkpoint, new settings of an edited sweep are added.
A sweep with other values (epochs, data) needs its own name: --set name=NAME.
Afterwards: .venv/bin/tensorboard --logdir eventlog   and   python -m harness compare runs/NAME
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="sweep.py", description="Run a sweep of MNIST trainings described by a YAML config, "
        "logging every trial to TensorBoard and collecting results in runs/NAME/results.csv.",
        epilog=SWEEP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="experiment YAML (see experiments/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a config value, e.g. --set train.epochs=1 (repeatable; values are YAML); "
                   "a swept parameter's values: --set 'sweep.parameters.train.lr=[0.01,0.1]'")
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
    p.add_argument("--fuse", default=None, metavar="auto|off|N",
                   help="train compatible trials (MLPs, softmax) together as one fused model: auto (up to 8), "
                   "off, or at most N per model (default: the config's sweep.fuse, else auto)")
    args = p.parse_args(argv)
    if args.fuse is not None:
        args.overrides.append(f"sweep.fuse={args.fuse}")
    if args.workers < 1:
        p.error(f"--workers {args.workers}: must be at least 1")
    return args


def report(outcome: SweepOutcome, eventlog: Path) -> None:
    """The end-of-sweep summary: ranking, failures, where to look."""
    from harness.analysis import compare, display
    from harness.analysis.results import param_columns
    from harness.venv import harness_command, tool

    records, paths, metric = outcome.records, outcome.paths, outcome.plan.config.sweep.metric
    finished = [r for r in records if r.finished]
    print()
    if finished:
        df = outcome.table()
        if (df[df["status"] == OK].groupby("group").size() > 1).any():  # settings with seeds: their means, not a lucky seed
            by = param_columns(df) or ["group"]
            every = compare.grouped(df, by, metric.name, metric.goal)
            print(display.groups_header(every.head(10), metric.name, metric.goal, len(every)) + "\n")
            print(display.aligned(display.groups_table(every.head(10), by, metric.name)))
        else:
            best = compare.ranked(df, metric.name, metric.goal, top=10)
            print(display.ranking_header(metric.name, metric.goal, best) + "\n")
            print(display.aligned(display.ranking_table(best, metric.name)))
        print()
    for r in outcome.bad:
        print(trial_line(r))
    state = "interrupted" if outcome.interrupted else "done"
    name = outcome.plan.config.name
    pruned = [r for r in finished if r.status == PRUNED]
    print(f"{name}: {state}, {len(finished)}/{outcome.size} trials finished, "
          f"{len(outcome.bad)} failed or diverged" + (f", {len(pruned)} pruned." if pruned else "."))
    epochs, seconds = sum(r.epochs_run for r in finished), sum(r.train_seconds or 0 for r in finished)
    print(f"  compute:     {epochs} epochs, {seconds:.0f} s of training"
          + (f" ({sum(r.epochs_run for r in pruned)} epochs in pruned trials)" if pruned else ""))
    if fused := packing.report_line(finished):
        print(f"  fusion:      {fused}")
    print(f"  results:     {paths.results}")
    print(f"  compare:     {harness_command(f'compare {paths.run_dir}')}")
    print(f"  plots:       {harness_command(f'plot {paths.run_dir}')}")
    print(f"  TensorBoard: {tool('tensorboard')} --logdir {eventlog}")
    print(f"               (this sweep alone: --logdir {eventlog / name})")
    if outcome.interrupted:
        print("  resume:      run the same command again")
    if outcome.verdict:  # sweep.confirm: the answer to "which setting is best" closes the report
        from harness.racing.verdict import block

        print("\n" + block(outcome.verdict, name, display.width()) + f"\n(details: {paths.confirm})")


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(parse_args(argv))
    except BrokenPipeError:  # the reader went away (`--dry-run | head`): what it read was all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (no second error at exit's flush)
        return 0


def _main(args: argparse.Namespace) -> int:
    try:
        outcome = run_sweep(args.config, overrides=args.overrides, runs=args.runs, eventlog=args.eventlog,
                            workers=args.workers, executor=args.executor, ray_address=args.ray_address,
                            retry_failed=args.retry_failed, dry_run=args.dry_run, quiet=args.quiet, echo=print)
    except (ConfigError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except StrategyError as e:  # a custom strategy's bug: said plainly, the trials it did finish are kept
        print(f"error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        raise
    except OSError as e:  # the disk refused a write of the sweep itself (full, read-only): finished trials are kept
        print(f"error: {os_problem(e)}", file=sys.stderr)
        return 2
    if args.dry_run:
        for line in outcome.plan.dry_run_lines():
            print(line)
        return 0
    report(outcome, args.eventlog)
    return outcome.exit_status


CONFIRM_EPILOG = """\
examples:
  python -m harness confirm runs/quick                       # its sweep.confirm, else the top 3 up to 8 seeds
  python -m harness confirm runs/quick --top 4 --max-repeats 6 --min-delta 0.001
  python -m harness confirm runs/quick --dry-run             # what it would train, at most

Exit status: 0, 1 when a trial failed or diverged, 2 for a bad sweep folder or option, 130 after Ctrl-C.
"""
OPTIONS = ("top", "max_repeats", "alpha", "min_delta")


def parse_confirm_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m harness confirm", description="race the top settings of a finished "
                                "sweep until the winner is clear",
                                epilog=CONFIRM_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep", type=Path, help="a sweep's folder (runs/NAME)")
    p.add_argument("--top", type=int, help="settings raced (default 3, or the sweep's sweep.confirm)")
    p.add_argument("--max-repeats", type=int, help="seeds per setting at most, the search's included (default 8)")
    p.add_argument("--alpha", type=float, help="the race's chance of dropping a setting that is not worse (default 0.05)")
    p.add_argument("--min-delta", type=float, help="settings closer than this count as tied, in the metric's "
                   "units (default 0.002, 0.2 points, for an accuracy; 0 for any other metric; 0: never tied)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="trials trained at once (default 1)")
    p.add_argument("--eventlog", type=Path, default=Path("eventlog"), help="TensorBoard root (default eventlog/)")
    p.add_argument("--executor", choices=("local", "ray"), default=None, help="default: the sweep's")
    p.add_argument("--ray-address", default=None, metavar="ADDRESS")
    p.add_argument("--dry-run", action="store_true", help="say what it would train, train nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-trial lines")
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error(f"--workers {args.workers}: must be at least 1")
    return args


def config_of(sweep: Path, args: argparse.Namespace) -> dict:
    """The sweep's last config with sweep.confirm set from it and the options; ConfigError when unreadable."""
    path = sweep / SWEEP_CONFIG
    try:
        raw = schema.read_yaml(path)
    except (OSError, ConfigError) as e:  # ConfigError: too large, not UTF-8, not YAML, too deep
        why = getattr(e, "strerror", None) or (e.problems[0] if isinstance(e, ConfigError) else str(e))
        raise ConfigError([f"{path}: cannot read the sweep's config ({why}); run the sweep first"], str(sweep)) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("sweep"), dict):
        raise ConfigError([f"{path}: not a sweep's config (no sweep section)"], str(sweep))
    if raw.get("name") != sweep.name:
        raise ConfigError([f"{path}: names the sweep {raw.get('name')!r}, not {sweep.name!r} (was the folder "
                           "renamed?)"], str(sweep))
    given = {k: v for k in OPTIONS if (v := getattr(args, k)) is not None}
    saved = raw["sweep"].get("confirm")
    raw["sweep"]["confirm"] = {**(saved if isinstance(saved, dict) else {}), **given}
    return raw


def confirm_main(argv: list[str] | None = None) -> int:
    """`python -m harness confirm runs/E`: race the top settings of a finished sweep."""
    args = parse_confirm_args(argv)
    try:
        outcome = run_sweep(config_of(args.sweep, args), runs=args.sweep.parent, eventlog=args.eventlog,
                            workers=args.workers, executor=args.executor, ray_address=args.ray_address,
                            dry_run=args.dry_run, quiet=args.quiet, echo=print)
    except (ConfigError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        print("\n".join(outcome.plan.dry_run_lines()))
        return 0
    report(outcome, args.eventlog)
    return outcome.exit_status
