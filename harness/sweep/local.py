"""Run a sweep's trials in worker processes, crash-safe and resumable.

Each worker is a separate process (spawned, so TensorFlow starts clean) that
imports TensorFlow once, with its share of the cores, and runs one trial at a
time. The main process never imports TensorFlow for training: it schedules,
rebuilds results.csv from the trial records after each trial, and shows
progress. Safety comes from the records and locks, not from the scheduler:
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
import gc
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable

from harness.config.plan import TrialSpec
from harness.files import file_lock
from harness.quiet import filter_tensorflow_noise
from harness.record import FAILED, TrialRecord


PR_SET_PDEATHSIG = 1  # linux/prctl.h
MAX_ATTEMPTS = 3  # a trial whose worker dies this often is recorded as failed


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


def _init_worker(threads: int, parent: int) -> None:
    """Runs first in each worker: limit threads before TensorFlow starts, watch the parent.

    Ctrl-C reaches every process of the terminal; an idle worker ignores it,
    a training one stops its trial (see _run_one) and the main process ends the sweep.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    filter_tensorflow_noise()
    configure_tensorflow(threads)


def configure_tensorflow(threads: int) -> None:
    """In a worker, before its first trial: TensorFlow's thread pools, quiet logs, libraries imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    gc.disable()  # see _import_and_freeze
    try:
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # retracing notices: each trial builds a new model on purpose
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
        except RuntimeError:  # TensorFlow already ran in this process (not the harness's doing): keep its pools
            pass
        _import_and_freeze()
    finally:
        gc.enable()


_FROZEN = False


def _import_and_freeze() -> None:
    """Import what trials use, with the garbage collector off, then exempt those ~370,000 objects from it.

    Measured: with the collector on, importing TensorFlow and Keras runs several full
    collections over their own new objects (2.8 s of CPU in all, against 1.9 s off,
    plus 0.3 s for the one collection below); and each trial's
    keras.backend.clear_session() collected over all of them again (0.3-0.7 s a
    trial), against 0.02-0.1 s once they are frozen.
    """
    global _FROZEN
    if _FROZEN:
        return
    import harness.training.trial  # noqa: F401  (TensorFlow, Keras, TensorBoard, Pillow)

    gc.collect()  # the imports' own garbage, once, so that none of it is frozen
    gc.freeze()
    _FROZEN = True


def _run_one(spec: TrialSpec, runs: str, eventlog: str) -> TrialRecord:
    """In a worker: train one trial under its lock, then free Keras' global state."""
    import keras

    from harness.layout import TrialPaths
    from harness.training.trial import run_trial

    paths = TrialPaths.of(spec.config.name, spec.trial_id, Path(runs), Path(eventlog))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with file_lock(paths.run_dir / ".lock"):
            return run_trial(spec.config, spec.trial_id, settings=spec.settings, repeat=spec.repeat,
                             group=spec.group, runs=Path(runs), eventlog=Path(eventlog), mnist=worker_mnist())
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        keras.backend.clear_session()


_MNIST = None


def worker_mnist():
    """MNIST, loaded once per worker process and shared by its trials."""
    global _MNIST
    if _MNIST is None:
        from harness.training import data

        _MNIST = data.load()
    return _MNIST


def execute(specs: list[TrialSpec], workers: int, runs: Path, eventlog: Path,
            on_start: Callable[[TrialSpec], None], on_done: Callable[[TrialSpec, TrialRecord], None]) -> None:
    """Run `specs` on `workers` processes, calling back as trials start and finish.

    When a worker dies mid-trial (killed, out of memory), the pool is rebuilt
    and its trials resume from their checkpoints; a trial that keeps killing
    its worker is recorded as failed and the sweep goes on.
    KeyboardInterrupt propagates after the workers have stopped.
    """
    queue = list(specs)
    threads = threads_per_worker(workers)
    ctx = multiprocessing.get_context("spawn")
    while queue:
        pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(threads, os.getpid()))
        running: dict[Future, TrialSpec] = {}
        try:
            while queue or running:
                while queue and len(running) < workers:
                    spec = queue.pop(0)
                    running[pool.submit(_run_one, spec, str(runs), str(eventlog))] = spec
                    on_start(spec)
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    spec = running.pop(fut)
                    try:
                        record = fut.result()
                    except BrokenProcessPool:
                        running[fut] = spec
                        raise
                    on_done(spec, record)
        except BrokenProcessPool:
            # Which worker died is unknown: every running trial is retried from its
            # checkpoint, and one that keeps killing its worker is recorded as failed.
            pool.shutdown(wait=False, cancel_futures=True)
            for spec in running.values():
                run_dir = Path(runs) / spec.config.name / spec.trial_id
                record = TrialRecord.load(run_dir)
                if record is not None and record.attempts >= MAX_ATTEMPTS:
                    on_done(spec, _lost(record, run_dir, f"its worker process died in {record.attempts} attempts"))
                else:
                    queue.insert(0, spec)
            continue
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


def _lost(record: TrialRecord, run_dir: Path, why: str) -> TrialRecord:
    """Record a trial that could not finish as failed (its checkpoint stays for --retry-failed)."""
    record.status, record.error = FAILED, why
    record.save(run_dir)
    return record
