"""Full and read-only disks, made real with a small tmpfs or a read-only bind mount in a private mount
namespace: one line naming the path and the cause, never a traceback, nothing written, no result lost."""

from __future__ import annotations

import json
import sys

import pytest

from fixtures_faults import FULL_DISK, NAME, READ_ONLY, SMALL_DISK, mounts_allowed, on_disk, results_kept
from sweeps import ROOT, sweep_cmd, write_config

pytestmark = pytest.mark.skipif(not mounts_allowed(), reason="needs `unshare -rm` and mount (a private mount namespace)")
NOISE = ("Traceback", "Exception ignored")


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and not any(n in err for n in NOISE), err
    return lines[0]


@pytest.mark.parametrize("disk,cause", [(FULL_DISK, "no space left on the device"),
                                        (READ_ONLY, "the file system is read-only")], ids=["full", "read-only"])
def test_a_disk_that_refuses_writes_stops_the_sweep_before_anything_is_written(tmp_path, disk, cause):
    cfg = write_config(tmp_path, NAME)
    runs = tmp_path / "runs"
    runs.mkdir()
    out = on_disk(sweep_cmd(cfg, tmp_path), disk, runs, tmp_path)
    assert out.returncode == 2
    assert one_error_line(out.stderr) == f"error: sweep folder: cannot write in {runs / NAME}: {cause}"
    assert not (runs / NAME).exists() and not (tmp_path / "eventlog").exists()


def test_a_disk_that_fills_mid_trial_fails_that_trial_in_one_line(tmp_path):
    cfg = write_config(tmp_path, NAME, model={"hidden": [512]})  # a 1.6 MB model on a 1 MB disk
    runs = tmp_path / "runs"
    runs.mkdir()
    out = on_disk(sweep_cmd(cfg, tmp_path), SMALL_DISK, runs, tmp_path)  # the disk goes with the namespace:
    assert out.returncode == 1 and not any(n in out.stderr for n in NOISE), out.stderr  # the report tells
    trial = runs / NAME / "base"
    errors = [line.strip() for line in out.stdout.splitlines() if "OSError" in line]
    assert errors in ([f"OSError: [Errno 28] No space left on device: '{trial / name}'"] for name in
                      ("checkpoint", "model.keras")), out.stdout


def test_plot_on_a_read_only_disk_says_so_and_plot_out_elsewhere_draws(finished_sweep, tmp_path):
    runs = finished_sweep / "runs"
    kept = results_kept(finished_sweep)
    plot = [sys.executable, "-m", "harness", "plot", str(runs / NAME)]
    out = on_disk(plot, READ_ONLY, runs, ROOT)
    assert out.returncode == 2
    assert one_error_line(out.stderr).startswith(f"error: cannot write the plots: {runs / NAME}/")
    assert "the file system is read-only; --out DIR writes them elsewhere" in out.stderr
    elsewhere = on_disk([*plot, "--out", str(tmp_path / "plots")], READ_ONLY, runs, ROOT)
    assert elsewhere.returncode == 0 and (tmp_path / "plots" / "pareto.png").is_file(), elsewhere.stderr
    assert results_kept(finished_sweep) == kept


def test_an_old_run_that_cannot_be_renamed_is_said_and_the_sweep_goes_on(tmp_path):
    # issue 29.12: an old long-named run (eventlog/E/lr=0.2) that cannot be renamed to lr.2 (here a mount
    # point: EBUSY) ended the sweep with exit 2 before any trial trained
    cfg = write_config(tmp_path, NAME, sweep={"parameters": {"train.lr": [0.2]}})
    old = tmp_path / "eventlog" / NAME / "lr=0.2"
    old.mkdir(parents=True)
    out = on_disk(sweep_cmd(cfg, tmp_path), 'mount --bind "$0" "$0"', old, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"note: cannot rename the TensorBoard run {old} to {old.parent / 'lr.2'}" in out.stderr
    assert json.loads((tmp_path / "runs" / NAME / "lr=0.2" / "trial.json").read_text())["status"] == "ok"
