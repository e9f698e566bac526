"""One HParams experiment for the whole eventlog: the union of every sweep's.

TensorBoard's HParams plugin takes its columns, filters and metrics from the
first run holding an experiment config, in no fixed order (its data server
keeps runs in a hash map). So every config under eventlog/ must be the same:
the union of the sweeps' own (kept as plain files, see `hparams`), with a
`sweep` column. A copy of it sits in each sweep's folder, so that
`tensorboard --logdir eventlog/E` finds one too: without a config,
TensorBoard makes a metric of every scalar (40 columns, layer statistics
included) and orders them by name. (The price: with several sweeps, one
sweep's view lists the others' columns too, empty for its trials.)

Each copy lives in its own run, eventlog/E/~hparams/DIGEST/, because
TensorBoard keeps the first metadata it read for a run's tag: a new union in
the same run would show only after a restart, a new run shows at the next
reload (and the deleted old one goes). It is rebuilt whenever a sweep starts
and by `python -m harness hparams` (after deleting a sweep's folders, say).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Callable

from google.protobuf.message import Error as ProtobufError
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from tensorboard.plugins.hparams.error import HParamsError
from tensorboard.summary.writer.record_writer import RecordWriter

from harness.config.schema import ExperimentConfig
from harness.files import atomic_write_bytes, file_lock, os_problem
from harness.layout import SWEEP_HPARAMS, UNION_HPARAMS, UNION_RUN
from harness.metrics import METRICS, dashboard_order
from harness.hparams import experiment_pb


# The union's events carry a wall time far ahead (2100-01-01): TensorBoard's run lists order runs by
# their first event's time (Scalars) or by name (Time Series, `~` after every letter), and the
# data-less run of the config would otherwise come first, and be ticked, in every one.
_LAST = 4102444800.0


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def register_sweep(eventlog: Path, cfg: ExperimentConfig, warn: Callable[[str], None] = _stderr) -> Path | None:
    """Record the sweep's experiment in eventlog/NAME/ and rebuild the union; the union's run directory.

    The union is derived from the sweeps' own files: when it cannot be
    rebuilt (eventlog/.hparams of the wrong kind, say), `warn` says so and
    the sweep goes on (None).
    """
    sweep_dir = Path(eventlog) / cfg.name
    atomic_write_bytes(sweep_dir / SWEEP_HPARAMS, experiment_pb(cfg).SerializeToString())
    try:
        return rebuild(eventlog, warn)
    except OSError as e:
        warn(f"warning: the HParams dashboard's columns were not rebuilt: {os_problem(e)}; "
             f"move it away, then run: python -m harness hparams --eventlog {eventlog}")
        return None


def read_experiment(path: Path) -> api_pb2.Experiment:
    """A sweep's own experiment file; ValueError saying how it is damaged."""
    try:
        summary = summary_pb2.Summary.FromString(Path(path).read_bytes())
        return metadata.parse_experiment_plugin_data(summary.value[0].metadata.plugin_data.content)
    except OSError as e:
        raise ValueError(os_problem(e)) from None
    except IndexError:
        raise ValueError(f"{path}: empty, not an HParams experiment") from None
    except (ProtobufError, HParamsError, ValueError) as e:
        raise ValueError(f"{path}: not an HParams experiment ({type(e).__name__}: {str(e)[:80]})") from None


def sweep_experiments(eventlog: Path, warn: Callable[[str], None] = _stderr) -> dict[str, api_pb2.Experiment]:
    """Every sweep's own experiment under `eventlog`, by sweep name (sorted).

    A damaged one (another sweep's, typically) is named by `warn` and left out:
    it must not cost every other sweep its dashboard.
    """
    out = {}
    eventlog = Path(eventlog)
    paths = [d / SWEEP_HPARAMS for d in eventlog.iterdir() if d.is_dir()] if eventlog.is_dir() else []
    for path in sorted(p for p in paths if os.path.lexists(p)):  # (glob skips a link that cannot be followed)
        try:
            out[path.parent.name] = read_experiment(path)
        except ValueError as e:
            warn(f"warning: {e}; sweep {path.parent.name!r} left out of the HParams dashboard's columns "
                 "(re-running that sweep writes the file again)")
    return out


def _values(info: api_pb2.HParamInfo) -> list:
    return [getattr(v, v.WhichOneof("kind")) for v in info.domain_discrete.values]


def merged_info(name: str, infos: list[api_pb2.HParamInfo]) -> api_pb2.HParamInfo:
    """One parameter over every sweep's: discrete values joined, or one range over the numbers.

    Values of different types (numbers in one sweep, text in another) become
    text; a parameter some sweep gave no domain gets none. Marked as
    differing when it holds more than one value: the dashboard lists those
    first and shows the first five.
    """
    out = api_pb2.HParamInfo(name=name)
    if any(not i.HasField("domain_discrete") and not i.HasField("domain_interval") for i in infos):
        return out
    values = {v for i in infos for v in _values(i)}
    ranges = [i.domain_interval for i in infos if i.HasField("domain_interval")]
    kinds = {type(v) for v in values} | ({float} if ranges else set())
    if kinds == {float} and ranges:
        numbers = list(values) + [r.min_value for r in ranges] + [r.max_value for r in ranges]
        out.type = api_pb2.DATA_TYPE_FLOAT64
        out.domain_interval.min_value, out.domain_interval.max_value = min(numbers), max(numbers)
        out.differs = min(numbers) < max(numbers)
        return out
    if kinds == {float} or kinds == {bool}:
        out.type = api_pb2.DATA_TYPE_FLOAT64 if kinds == {float} else api_pb2.DATA_TYPE_BOOL
        ordered = sorted(values)
    else:
        out.type = api_pb2.DATA_TYPE_STRING
        ordered = sorted({_text(v) for v in values}, key=_natural)
    out.domain_discrete.extend(ordered)
    out.differs = len(ordered) > 1
    return out


def _text(v) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def _natural(text: str) -> list:
    """Numbers in numeric order among text: 128 before 1024, `512` before `512,256`."""
    key = []
    for part in text.split(","):
        try:
            key.append((0, float(part), ""))
        except ValueError:
            key.append((1, 0.0, part))
    return key


def union_pb(experiments: dict[str, api_pb2.Experiment]) -> summary_pb2.Summary:
    """The union of the sweeps' experiments: every parameter once, over all its values, and the metrics.

    A parameter with one value over every sweep (`sweep` itself, with one sweep) is left out: it tells
    no trial from another and would take one of the dashboard's five default columns. The metrics: each
    sweep's own first (the first one is what Parallel Coordinates colours by), then the others any sweep
    offers, as listed in harness/metrics.py, the test set's last.
    """
    by_name: dict[str, list[api_pb2.HParamInfo]] = {}
    for exp in experiments.values():
        for info in exp.hparam_infos:
            by_name.setdefault(info.name, []).append(info)
    merged = [merged_info(name, infos) for name, infos in sorted(by_name.items())]
    hparams = [h for h in merged if h.differs] or merged  # a sweep of repeats only: its fixed values
    firsts = [exp.metric_infos[0].name.tag for exp in experiments.values() if exp.metric_infos]
    offered = {m.name.tag for exp in experiments.values() for m in exp.metric_infos}
    tags = list(dict.fromkeys(firsts + [m.tag for m in dashboard_order(None) if m.tag in offered]))
    display = {m.tag: m.display for m in METRICS}
    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=t), display_name=display.get(t, t)) for t in tags]
    data = plugin_data_pb2.HParamsPluginData(
        experiment=api_pb2.Experiment(hparam_infos=hparams, metric_infos=metrics))
    summary = summary_pb2.Summary()
    summary.value.add(tag=metadata.EXPERIMENT_TAG, metadata=metadata.create_summary_metadata(data),
                      tensor=metadata.NULL_TENSOR)
    return summary


def rebuild(eventlog: Path, warn: Callable[[str], None] = _stderr) -> Path | None:
    """Write the union of the sweeps now under `eventlog` into each sweep's folder, and no other config.

    Every copy is the same bytes in a run named by their digest, eventlog/E/~hparams/DIGEST/:
    `--logdir eventlog` finds several configs and picks any (all equal), `--logdir eventlog/E` finds
    its own. Returns one of them (they share the name; None when there is no sweep). Removes every
    other config: older unions, the copies in folders that are no longer a sweep's, and what earlier
    versions wrote (events in eventlog/E/, unions in eventlog/.hparams/). OSError when the lock is of
    the wrong kind, or the disk refuses a write.
    """
    eventlog = Path(eventlog)
    root = eventlog / UNION_HPARAMS
    with file_lock(root / ".lock"):
        experiments = sweep_experiments(eventlog, warn)
        for name in experiments:
            for old in (eventlog / name).glob("events.out.tfevents.*"):
                old.unlink()
        _remove_others(root, None)
        data = union_pb(experiments).SerializeToString() if experiments else None
        digest = hashlib.sha256(data).hexdigest()[:12] if data else None
        for folder in sorted(d for d in eventlog.iterdir() if d.is_dir() and d != root):
            runs = folder / UNION_RUN
            if folder.name in experiments:
                _write_copy(runs / digest, data)
            if runs.is_dir():
                _remove_others(runs, runs / digest if folder.name in experiments else None)
        return eventlog / next(iter(experiments)) / UNION_RUN / digest if experiments else None


def _write_copy(target: Path, data: bytes) -> None:
    """The union's event file in `target`, unless a whole one is there: named so that TensorBoard
    ignores it until it is whole (TensorBoard reads only files named events.out.tfevents.*)."""
    if any(target.glob("events.out.tfevents.*")):
        return
    shutil.rmtree(target, ignore_errors=True)  # what an interrupted rebuild left
    partial = _write_event_file(target / f"partial.{os.getpid()}", data)
    os.replace(partial, target / f"events.out.tfevents.{int(_LAST)}.{socket.gethostname()}.{os.getpid()}.0.v2")


def _remove_others(root: Path, keep: Path | None) -> None:
    for d in root.iterdir() if root.is_dir() else ():
        if d.is_dir() and d != keep:
            shutil.rmtree(d, ignore_errors=True)


def _write_event_file(path: Path, summary_bytes: bytes) -> Path:
    """An event file holding one summary, written record by record with TensorBoard's own framing.

    Not with its EventFileWriter, which would import TensorFlow into the
    sweep's main process.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        records = RecordWriter(f)
        records.write(event_pb2.Event(wall_time=_LAST, file_version="brain.Event:2").SerializeToString())
        records.write(event_pb2.Event(wall_time=_LAST, step=0,
                                      summary=summary_pb2.Summary.FromString(summary_bytes)).SerializeToString())
        f.flush()
        os.fsync(f.fileno())
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m harness hparams",
        description="Rebuild the HParams dashboard's experiment over every sweep under the eventlog "
        "(sweeps do it when they start; run this after deleting a sweep's folders).")
    p.add_argument("--eventlog", type=Path, default=Path("eventlog"), help="TensorBoard root (default eventlog/)")
    args = p.parse_args(argv)
    if not args.eventlog.is_dir():
        print(f"--eventlog {args.eventlog}: no such directory", file=sys.stderr)
        return 2
    try:
        target = rebuild(args.eventlog)
    except OSError as e:
        print(f"error: {os_problem(e)}", file=sys.stderr)
        return 2
    sweeps = sweep_experiments(args.eventlog, warn=lambda _: None)  # rebuild warned about the damaged ones
    if target is None:
        print(f"{args.eventlog}: no sweep found; no HParams experiment written")
    else:
        print(f"the HParams experiment of {len(sweeps)} sweep(s), {', '.join(sweeps)}: "
              f"{args.eventlog / '<sweep>' / target.parent.name / target.name} in each")
    return 0
