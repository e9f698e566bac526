"""Ctrl-C (a real SIGINT) that reaches a local worker while Keras' fit traces its train function, at the
instant after TensorFlow pushed a graph on its default-graph stack: `python ctrl_c_mid_trace.py OUT K`.

It runs the real harness.sweep.local._worker_main in this process (a thread plays the sweep: sends one
trial, reads the reply) and sends SIGINT to itself from a profiler hook at the `self.stack.append(default)`
of TensorFlow's DefaultStack.get_controller: the K-th such push inside model.fit whose graph is nested in
another FuncGraph. Python's default SIGINT handler would raise right there, before the push's try: the
graph stays pushed, the interrupt comes out of fit as "AssertionError: Nesting violated for default stack
of FuncGraph objects", and the trial is recorded failed (finished, never resumed).

Prints the worker's replies and the trial's status; exit 0 when the worker said "interrupted" and the
trial is pending (resumable), 1 when the trial was recorded failed, 2 for anything else.
"""

import os
import signal
import sys
import threading
from multiprocessing import Pipe

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from harness.config.plan import plan  # noqa: E402
from harness.layout import Workspace  # noqa: E402
from harness.record import TrialRecord  # noqa: E402
from harness.sweep import local  # noqa: E402
from harness.training import worker  # noqa: E402
from tiny import QUIET, TINY, merge  # noqa: E402


def inside_fit(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_name == "fit" and frame.f_code.co_filename.endswith("backend/tensorflow/trainer.py"):
            return True
        frame = frame.f_back
    return False


def main(out: str, k: int) -> int:
    worker.configure_tensorflow(1)  # TensorFlow imported now: the hook below costs nothing while importing
    from tensorflow.python.framework.func_graph import FuncGraph

    pushes, fired = [0], []

    def hook(frame, event, arg):
        if fired or event != "c_return" or frame.f_code.co_name != "get_controller":
            return
        if not frame.f_code.co_filename.endswith("tensorflow/python/framework/stack.py"):
            return
        stack = frame.f_locals["self"].stack
        if getattr(arg, "__name__", None) != "append" or len(stack) < 2 or not isinstance(stack[-2], FuncGraph):
            return
        if inside_fit(frame.f_back):
            pushes[0] += 1
            if pushes[0] == k:
                fired.append(True)
                signal.raise_signal(signal.SIGINT)  # Ctrl-C, arriving right after the push

    workspace = Workspace(f"{out}/runs", f"{out}/eventlog")
    _, (spec, *_) = plan(merge({"name": "intr"}, TINY, QUIET, {"data": {"limit": 3000}, "train": {"epochs": 2}}))
    sweep_end, worker_end = Pipe()
    replies = []

    def sweep():
        sweep_end.send(spec)
        while True:
            kind, payload = sweep_end.recv()
            replies.append(kind)
            if kind != "epoch":
                break
            sweep_end.send(False)
        sweep_end.send(None)  # the worker's loop ends

    threading.Thread(target=sweep, daemon=True).start()
    sys.setprofile(hook)
    try:
        local._worker_main(worker_end, 1, os.getppid(), workspace)
    finally:
        sys.setprofile(None)
    record = TrialRecord.load(workspace.trial(spec.config.name, spec.trial_id).run_dir)
    print(f"signal sent: {bool(fired)}; worker replied: {replies}; trial: {record.status} {record.error or ''}")
    if record.status == "failed":
        return 1
    return 0 if fired and record.status == "pending" and replies[-1:] == ["interrupted"] else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
