"""`python -m harness confirm runs/E`: race the top settings of a finished sweep until the winner is clear.

It re-runs the sweep from the config it last ran with (runs/E/sweep.yaml) with
`sweep.confirm` set (from that config, then these options): the search's
trials are all there, so only the race trains. Resumable like any sweep:
the same command continues a race interrupted by Ctrl-C or kill -9.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from harness.config.validate import ConfigError
from harness.layout import SWEEP_CONFIG
from harness.training.data import DataError

EPILOG = """\
examples:
  python -m harness confirm runs/quick                       # the top 3 settings, up to 10 seeds each
  python -m harness confirm runs/quick --top 4 --max-repeats 6 --min-delta 0.001
  python -m harness confirm runs/quick --dry-run             # what it would train, at most

Exit status: 0, 1 when a trial failed or diverged, 2 for a bad sweep folder or option, 130 after Ctrl-C.
"""
OPTIONS = ("top", "max_repeats", "alpha", "min_delta")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m harness confirm", description=__doc__.split("\n\n")[0],
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep", type=Path, help="a sweep's folder (runs/NAME)")
    p.add_argument("--top", type=int, help="settings raced (default 3, or the sweep's sweep.confirm)")
    p.add_argument("--max-repeats", type=int, help="seeds per setting at most, the search's included (default 10)")
    p.add_argument("--alpha", type=float, help="the race's chance of dropping a setting that is not worse (default 0.05)")
    p.add_argument("--min-delta", type=float, help="settings closer than this count as tied (default 0: never)")
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
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        why = getattr(e, "strerror", None) or str(e).split("\n")[0]
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


def main(argv: list[str] | None = None) -> int:
    from harness.cli import report
    from harness.sweep.engine import run_sweep

    args = parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
