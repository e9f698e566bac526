"""Writing files that others read: atomically, and under a lock; reading back what we wrote, safely.

Every file another process or a person may read while we write it (trial
records, results.csv, histories, plots, the HParams experiment) goes through
`atomic_write_*`: a temporary file beside the target, fsynced, then renamed
over it, so a reader (or a re-run after `kill -9`) sees the old file or the
new one, never half of one.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


# The JSON and YAML files the harness reads back (records, verdicts, configs) are KBs when it wrote them: a
# larger one is not ours, and reading it whole could exhaust the memory of whoever reads it.
MAX_READ_BYTES = 16 * 2**20


def read_text(path: Path, limit: int = MAX_READ_BYTES) -> str:
    """The UTF-8 text of `path`: ValueError (one line, naming the file) when it is larger than `limit`
    or not UTF-8; OSError as reading raises it."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path}: larger than {limit // 2**20} MiB, not a file the harness wrote")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte {e.start})") from None


def read_json(path: Path, limit: int = MAX_READ_BYTES):
    """The JSON in `path`, read as `read_text` reads; ValueError for damage of any kind (nesting too)."""
    try:
        return json.loads(read_text(path, limit))
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None


_UMASK = os.umask(0o022)  # read once (it can only be read by setting it), put back at once
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """`data` in `path`, whole or not at all; an OSError (a full disk, say) names `path`."""
    path = Path(path)
    with naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o666 & ~_UMASK)  # as open() would make it (0644), not mkstemp's private 0600
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@contextmanager
def naming(path: Path) -> Iterator[None]:
    """OSErrors inside are raised again as one line naming `path` (unless they name a path already).

    A write's errors rarely say which file: `f.write` on a full disk gives
    `[Errno 28] No space left on device`, h5py a paragraph with the time in it.
    """
    try:
        yield
    except OSError as e:
        if e.filename is not None or e.errno is None:
            raise
        raise OSError(e.errno, os.strerror(e.errno), str(path)) from None


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


_CAUSES = {  # what an errno means for a path the harness reads or writes, in the user's words
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EISDIR: "is a directory where a file belongs",
    errno.ENOTDIR: "a part of the path is a file where a directory belongs",
    errno.EEXIST: "exists, as a file where a directory belongs",
    errno.ELOOP: "a loop of symbolic links",
    errno.ENOENT: "no such file or directory",
}


def os_cause(error: OSError) -> str:
    """What a file-system error means, in a few words (without the path)."""
    return _CAUSES.get(error.errno) or error.strerror or str(error) or type(error).__name__


def os_problem(error: OSError) -> str:
    """One line naming the path and the cause of a file-system error (no traceback for a user)."""
    return f"{error.filename}: {os_cause(error)}" if error.filename else os_cause(error)


def is_temporary(name: str) -> bool:
    """True for the atomic writers' files in flight (never shipped, never read)."""
    return name.startswith(".") and name.endswith(".tmp")


@contextmanager
def file_lock(path: Path, blocking: bool = True) -> Iterator[bool]:
    """An exclusive flock on `path`; yields False (non-blocking) when someone else holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
