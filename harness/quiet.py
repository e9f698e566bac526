"""Keep TensorFlow's start-up notices and h5py's echoes of a failed write out of what users read.

TensorFlow's C++ runtime prints a few notices (oneDNN, CPU features) before its
own logging is set up, so TF_CPP_MIN_LOG_LEVEL does not silence them; with
several workers they bury the progress display and the per-trial lines.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

TF_NOISE = ("All log messages before absl::InitializeLog()", "oneDNN custom operations are on",
            "cpu_feature_guard", "rebuild TensorFlow with the appropriate compiler flags")


def filter_tensorflow_noise() -> None:
    """Route this process's stderr (fd 2) through a thread that drops TF_NOISE lines.

    At exit the pipe is drained before the process ends, so a last error
    message or traceback is never lost.
    """
    read_fd, write_fd = os.pipe()
    original = os.dup(2)
    os.dup2(write_fd, 2)
    os.close(write_fd)

    def pump():
        with os.fdopen(read_fd, "rb") as src, os.fdopen(original, "wb", buffering=0, closefd=False) as dst:
            for line in src:
                if not any(n.encode() in line for n in TF_NOISE):
                    dst.write(line)

    def drain():
        sys.stderr.flush()
        os.dup2(original, 2)  # closes the pipe's last write end: the pump reads what is left, then EOF
        thread.join(timeout=5)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    atexit.register(drain)


CLOSE_ERRORS = (OSError, RuntimeError)  # h5py's "Problem attempting file close", "Can't decrement id ref count"


def drop_failed_h5_closes() -> None:
    """From now on, drop h5py's tracebacks of a file it failed to close when collected (idempotent).

    When a weights file cannot be written (a full disk), h5py raises the write's
    error, which the trial records; then, as the file object is collected, it
    fails to close the file and prints the same error twice more, through
    sys.excepthook and as "Exception ignored in ObjectID.__dealloc__".
    """
    if getattr(sys.unraisablehook, "drops_h5_closes", False):
        return
    unraisable_hook, except_hook = sys.unraisablehook, sys.excepthook

    def unraisable(u) -> None:
        if not (isinstance(u.exc_value, CLOSE_ERRORS) and "h5py" in str(u.object)):
            unraisable_hook(u)

    def excepthook(kind, value, tb) -> None:
        last = tb
        while last is not None and last.tb_next is not None:
            last = last.tb_next
        code = last.tb_frame.f_code if last is not None else None
        if not (issubclass(kind, CLOSE_ERRORS) and code is not None and code.co_name.endswith("__dealloc__")
                and "h5py" in code.co_filename):
            except_hook(kind, value, tb)

    unraisable.drops_h5_closes = True
    sys.unraisablehook, sys.excepthook = unraisable, excepthook
