"""The sweep's HParams experiment: swept parameters with their domains, and the metrics.

Written once at the sweep's root in eventlog/ so TensorBoard's HParams
dashboard shows exactly the swept columns. A resumed sweep rewrites it only
when the plan changed, replacing the old one: the root never holds two
different experiment configs. Built with TensorBoard's own protos and event
writer, so the sweep's main process needs no TensorFlow.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import summary_v2
from tensorboard.summary.writer.record_writer import RecordWriter

from harness.config.schema import scalar
from harness.config.space import Parameter
from harness.metrics import METRICS

# Shown in the HParams dashboard for every trial, besides whatever a sweep varies.
CORE_HPARAMS = ("model.family", "model.hidden", "model.dropout", "train.optimizer", "train.lr", "train.batch_size")
SIGNATURE = "hparams_experiment.pb"  # the last config written, to tell whether it changed


def domain(param: Parameter):
    if param.distribution == "int_uniform":
        return summary_v2.IntInterval(int(param.min), int(param.max))
    if param.distribution is not None:
        return summary_v2.RealInterval(float(param.min), float(param.max))
    values = [scalar(v) for v in param.values]  # as trials log them
    if all(isinstance(v, bool) for v in values) or all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return summary_v2.Discrete(values)
    return summary_v2.Discrete([str(v) for v in values])


def fixed_of(cfg) -> dict:
    """A sweep of one setting has no swept columns: show the core knobs instead."""
    return {} if cfg.sweep.parameters else {k: None for k in CORE_HPARAMS}


def experiment_pb(params: list[Parameter], fixed: dict) -> summary_pb2.Summary:
    """The HParams experiment config: swept params (or, for a single trial, `fixed`) and METRICS."""
    hparams = [summary_v2.HParam(p.path, domain(p)) for p in params] or [summary_v2.HParam(k) for k in fixed]
    metrics = [summary_v2.Metric(m.tag, display_name=m.display) for m in METRICS]
    return summary_v2.hparams_config_pb(hparams, metrics, time_created_secs=0)


def write_experiment(root: Path, pb: summary_pb2.Summary) -> bool:
    """Write `pb` as the only experiment config under `root`; False when it was already there."""
    root = Path(root)
    data = pb.SerializeToString()
    sig = root / SIGNATURE
    if sig.exists() and sig.read_bytes() == data:
        return False
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("events.out.tfevents.*"):
        old.unlink()
    # Written record by record (TensorBoard's own framing), not with its
    # EventFileWriter, which would import TensorFlow into this process.
    now = time.time()
    path = root / f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}.0.v2"
    tmp = path.with_name("." + path.name)
    with open(tmp, "wb") as f:
        records = RecordWriter(f)
        records.write(event_pb2.Event(wall_time=now, file_version="brain.Event:2").SerializeToString())
        records.write(event_pb2.Event(wall_time=now, step=0, summary=pb).SerializeToString())
    os.replace(tmp, path)
    sig.write_bytes(data)
    return True
