"""What a sweep checks before it takes its lock or writes anything: each problem one line, exit 2.

A sweep that cannot finish should say so at once, not after its lock,
sweep.yaml and a first trial are on disk: its own folders of the wrong kind
(harness/sweep/repair.py), a runs/ or eventlog/ it cannot write (read-only,
full, no permission), and a Ray cluster that does not answer (Ray itself
retries for many minutes).
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

from harness.config.validate import ConfigError
from harness.files import os_cause
from harness.layout import SweepPaths
from harness.sweep import repair

PROBE_BYTES = 256 << 10  # written and synced in each root: a disk with less room than this is full for a sweep
RAY_TIMEOUT = 5.0  # seconds a Ray address has to accept a connection


def check(paths: SweepPaths, executor: str, ray_address: str | None) -> None:
    """Raise ConfigError naming why the sweep on `paths` could not start, if anything would stop it."""
    problems = repair.sweep_problems(paths)
    if not problems:
        problems = [p for d in (paths.run_dir, paths.log_dir) if (p := writable_problem(d))]
    if problems:
        raise ConfigError(problems, "sweep folder")
    if executor == "ray" and ray_address is not None and (problem := ray_problem(ray_address)):
        raise ConfigError([problem], "--executor ray")


def writable_problem(directory: Path) -> str | None:
    """Why files cannot be written in `directory` (created if missing), or None.

    Writes, syncs and removes a PROBE_BYTES file: a full disk answers ENOSPC
    here, not in the middle of a trial. A directory created for the probe and
    left empty is removed again.
    """
    directory = Path(directory)
    created = [p for p in [directory, *directory.parents] if not p.exists()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe.", suffix=".tmp") as f:
            f.write(b"\0" * PROBE_BYTES)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        return f"cannot write in {directory}: {os_cause(e)}"
    finally:
        for p in created:  # innermost first
            try:
                p.rmdir()
            except OSError:
                break
    return None


def ray_address_of(address: str) -> tuple[str, int] | None:
    """(host, port) a Ray address names: host:port, ray://host:port, or `auto` (RAY_ADDRESS or the
    cluster this machine started); None when there is nothing to probe (`local`, `auto` finding none)."""
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS") or _current_cluster() or ""
    address = address.removeprefix("ray://")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def _current_cluster() -> str | None:
    try:  # where `ray start --head` records the address of the cluster it started
        return (Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster").read_text().strip() or None
    except OSError:
        return None


def ray_problem(address: str, timeout: float = RAY_TIMEOUT) -> str | None:
    """Why the Ray cluster at `address` cannot be reached within `timeout` seconds, or None."""
    target = ray_address_of(address)
    if target is None:
        if address == "auto":
            return ("--ray-address auto: no Ray cluster found on this machine (RAY_ADDRESS is not set and "
                    f"{Path(tempfile.gettempdir()) / 'ray' / 'ray_current_cluster'} does not name one); "
                    "start one with: ray start --head")
        return None
    try:
        socket.create_connection(target, timeout=timeout).close()
    except OSError as e:
        why = "no answer" if isinstance(e, TimeoutError) else e.strerror or type(e).__name__
        return (f"--ray-address {address}: nothing accepted a connection at {target[0]}:{target[1]} "
                f"within {timeout:g} s ({why}); is the cluster up (ray status)?")
    return None
