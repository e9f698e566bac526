"""The local executor: trials in worker processes on this machine.

Each worker is a separate process (spawned, so TensorFlow starts clean) that
imports TensorFlow once, with its share of the cores, and then trains the
trials it is sent, one at a time, over a pipe. The sweep's main process never
imports TensorFlow. Because every worker is ours (not a pool's), a worker
that dies (killed, out of memory) is known by name: only its trial is lost,
and the others go on. Safety comes from the records and locks:
- a finished trial's record says so, and run_trial returns it without training;
- an interrupted trial resumes from its checkpoint;
- a per-trial file lock keeps two processes (say, an orphan of a killed
  sweep) from training the same trial at once;
- a worker dies with the sweep process (even after `kill -9`), leaving no
  stray training behind.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection, wait

from harness.config.plan import TrialSpec
from harness.layout import Workspace
from harness.quiet import filter_tensorflow_noise
from harness.training.fusion.packing import Unit, members
from harness.sweep.scheduler import Event, Finished, Lost, Progress

PR_SET_PDEATHSIG = 1  # linux/prctl.h
CANCEL_GRACE = 15.0  # seconds interrupted trials get to record themselves before their workers are killed


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def threads_per_worker(workers: int) -> int:
    """Each worker's share of the cores, so that workers x threads never exceeds them."""
    return max(1, cpu_count() // workers)


def _die_with_parent(parent: int) -> None:
    """End this worker the moment the sweep process dies (kill -9 included).

    On Linux the kernel does it (PR_SET_PDEATHSIG); elsewhere a thread polls.
    A worker that outlived its sweep by even a fraction of a second could
    finish a trial's training, drop its checkpoint, and die before recording
    the result, so the re-run would have to start that trial over.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) == 0 and os.getppid() == parent:
            return
    except (OSError, AttributeError):
        pass

    def watch():
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _worker_main(conn: Connection, threads: int, parent: int, workspace: Workspace) -> None:
    """A worker process: train each trial it is sent; reply ("done", record) or ("interrupted", None).

    Ctrl-C reaches every process of the terminal: an idle worker ignores it, a
    training one stops its trial at the next batch (callbacks.Interruption; recorded
    as pending, to resume) and says so.
    For a prunable trial, each epoch's logs go to the sweep, which answers
    whether to stop the trial there.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    filter_tensorflow_noise()
    from harness.training import worker

    worker.configure_tensorflow(threads)
    from harness.training.callbacks import Interruption

    def on_epoch(trial_id: str):
        def report(epoch: int, logs: dict) -> bool:
            conn.send(("epoch", (trial_id, epoch, logs)))
            return conn.recv()
        return report

    while True:
        try:
            unit = conn.recv()
        except EOFError:
            return
        if unit is None:
            return
        Interruption.requested = False
        signal.signal(signal.SIGINT, Interruption.request)  # raised between batches: never inside TensorFlow
        try:
            replies = [("done", record) for record in worker.train(unit, workspace, on_epoch)]
        except KeyboardInterrupt:
            replies = [("interrupted", None)]
        except Exception as e:  # outside the trial's own try (run_trial records those): e.g. a damaged record
            replies = [("error", f"{type(e).__name__}: {e}")]
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        for reply in replies:
            conn.send(reply)


class _Worker:
    def __init__(self, ctx, args: tuple):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, *args), daemon=True)
        self.process.start()
        child.close()
        self.specs: dict[str, TrialSpec] = {}  # the trials of the unit it trains, until each is done


class LocalExecutor:
    """`workers` processes of cores/workers threads each, started when first needed and reused."""

    def __init__(self, workers: int, workspace: Workspace):
        self.slots = workers
        self._ctx = multiprocessing.get_context("spawn")
        self._args = (threads_per_worker(workers), os.getpid(), workspace)
        self._idle: list[_Worker] = []
        self._busy: dict[str, _Worker] = {}

    def start(self, unit: Unit) -> None:
        # Every start counts in the record's attempts: run_trial saves it before training.
        w = self._idle.pop() if self._idle else _Worker(self._ctx, self._args)
        w.conn.send(unit)
        w.specs = {spec.trial_id: spec for spec in members(unit)}
        self._busy.update({trial_id: w for trial_id in w.specs})

    def wait(self, timeout: float | None = None) -> list[Event]:
        workers = self._running()
        ready = set(wait([w.conn for w in workers] + [w.process.sentinel for w in workers], timeout))
        return [e for w in workers if w.conn in ready or w.process.sentinel in ready for e in self._receive(w)]

    def _receive(self, w: _Worker) -> list[Event]:
        try:
            kind, payload = w.conn.recv() if w.conn.poll() else (None, None)
        except (EOFError, OSError):
            kind = None
        if kind == "epoch":
            trial_id, epoch, logs = payload
            return [Progress(w.specs[trial_id], epoch, logs)]
        if kind == "done":  # one trial of the unit: the worker is free once each has said so
            spec = w.specs.pop(payload.trial_id)
            self._release(w, [spec.trial_id])
            return [Finished(spec, payload)]
        specs, w.specs = list(w.specs.values()), {}
        if kind is None:  # the process died without a word
            w.process.join(timeout=5)
            for spec in specs:
                del self._busy[spec.trial_id]
            return [Lost(spec, f"its worker process died (exit code {w.process.exitcode})") for spec in specs]
        self._release(w, [spec.trial_id for spec in specs])
        why = payload if kind == "error" else "its training was interrupted (SIGINT)"  # pending: it resumes
        return [Lost(spec, why) for spec in specs]

    def _running(self) -> list[_Worker]:
        return list({id(w): w for w in self._busy.values()}.values())

    def _release(self, w: _Worker, trial_ids: list[str]) -> None:
        for trial_id in trial_ids:
            del self._busy[trial_id]
        if not w.specs:
            self._idle.append(w)

    def verdict(self, spec: TrialSpec, stop: bool) -> None:
        self._busy[spec.trial_id].conn.send(stop)

    def cancel(self) -> None:
        """Let interrupted trials record themselves; interrupt those that did not hear Ctrl-C; kill stragglers."""
        deadline = time.monotonic() + CANCEL_GRACE
        nudged = time.monotonic() + 2.0
        while self._busy and time.monotonic() < deadline:
            if time.monotonic() > nudged:  # Ctrl-C did not reach them (not in our process group)
                for w in self._running():
                    os.kill(w.process.pid, signal.SIGINT)
                nudged = deadline
            try:
                for event in self.wait(0.2):
                    if isinstance(event, Progress):
                        self.verdict(event.spec, True)
            except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
                break

    def close(self) -> None:
        for w in self._idle:
            try:
                w.conn.send(None)
            except OSError:
                pass
        for w in [*self._idle, *self._running()]:
            w.process.join(timeout=5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
        self._idle, self._busy = [], {}
