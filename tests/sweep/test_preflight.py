"""What a sweep checks before its lock and its first write: an unreachable Ray cluster, a disk it cannot write."""

from __future__ import annotations

import socket
import tempfile
import time

from harness.sweep import preflight
from sweeps import run_sweep, write_config


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


def test_an_unreachable_ray_cluster_is_reported_within_seconds_and_nothing_is_written(tmp_path):
    cfg = write_config(tmp_path, "E")
    address = f"127.0.0.1:{closed_port()}"
    start = time.monotonic()
    out = run_sweep(cfg, tmp_path, "--executor", "ray", "--ray-address", address, timeout=120)
    assert out.returncode == 2 and time.monotonic() - start < 60
    assert out.stderr.strip() == (f"error: --executor ray: --ray-address {address}: nothing accepted a connection "
                                  f"at {address} within 5 s (Connection refused); is the cluster up (ray status)?")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "eventlog").exists()


def test_ray_addresses_probed(monkeypatch, tmp_path):
    assert preflight.ray_address_of("ray://head.example:10001") == ("head.example", 10001)
    assert preflight.ray_address_of("[::1]:6379") == ("::1", 6379)
    assert preflight.ray_address_of("local") is None
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6380")
    assert preflight.ray_address_of("auto") == ("10.0.0.5", 6380)
    monkeypatch.delenv("RAY_ADDRESS")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where `ray start` records its cluster: none
    assert preflight.ray_problem("auto").startswith("--ray-address auto: no Ray cluster found on this machine")
    with socket.socket() as s:  # a listening port passes
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert preflight.ray_problem(f"127.0.0.1:{s.getsockname()[1]}") is None


def test_the_write_probe_leaves_nothing_behind(tmp_path):
    assert preflight.writable_problem(tmp_path / "runs" / "E") is None
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "runs").write_text("a file")
    assert preflight.writable_problem(tmp_path / "runs" / "E").startswith(f"cannot write in {tmp_path / 'runs' / 'E'}: ")
