"""Keep TensorFlow's start-up notices out of what users read.

Its C++ runtime prints a few notices (oneDNN, CPU features) before its own
logging is set up, so TF_CPP_MIN_LOG_LEVEL does not silence them; with several
workers they bury the progress display and the per-trial lines.
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
