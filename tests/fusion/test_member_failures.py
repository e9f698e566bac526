"""A fused group fails member by member: what concerns one member (its files, data, numbers) costs it alone, as unfused."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pandas as pd
import pytest

from harness.config import plan, schema
from harness.layout import Workspace, run_name
from harness.record import TrialRecord
from harness.training import keep
from harness.training.callbacks import Interruption
from harness.training.fusion.trials import run_group
from sweeps import run_sweep, write_config

LRS = [0.001, 0.003, 0.01]
SMALL = {"model": {"family": "mlp", "hidden": [16]}, "data": {"limit": 600, "test_limit": 200}}


def _group(tmp_path: Path, name: str, epochs: int, lrs=LRS, **sections):
    """The config file, the trials (one fused group) and the workspace of a small sweep over `lrs`."""
    cfg = write_config(tmp_path, name, **SMALL, train={"epochs": epochs}, **sections,
                       sweep={"parameters": {"train.lr": lrs}})
    specs = plan.plan(schema.load_raw(cfg, []), str(cfg))[1]
    return cfg, specs, Workspace(tmp_path / "runs", tmp_path / "eventlog")


def _interrupted_with_one_history_damaged(tmp_path, mnist):
    """A group Ctrl-C'd in its 2nd epoch (each member has its 1st checkpointed), then the middle member's
    history given a step that is not a number; (config, specs, workspace, the damaged member's id)."""
    cfg, specs, workspace = _group(tmp_path, "h9", epochs=3)
    with pytest.raises(KeyboardInterrupt):
        run_group(specs, workspace, mnist, lambda spec: lambda epoch, logs: epoch == 2 and Interruption.request())
    paths = [workspace.trial("h9", s.trial_id) for s in specs]
    assert [json.loads(p.record.read_text())["status"] for p in paths] == ["pending"] * 3
    assert all(any(p.checkpoint.glob("ckpt-*")) for p in paths)
    header, first, *rest = paths[1].history.read_text().splitlines()
    epoch, _, *values = first.split(",")
    paths[1].history.write_text("\n".join([header, ",".join([epoch, "x", *values]), *rest]) + "\n")
    return cfg, specs, workspace, specs[1].trial_id


def test_a_member_whose_history_is_damaged_fails_alone_and_the_others_resume(tmp_path, mnist):
    _, specs, workspace, damaged = _interrupted_with_one_history_damaged(tmp_path, mnist)
    records = {r.trial_id: r for r in run_group(specs, workspace, mnist)}
    assert (records[damaged].status, records[damaged].attempts) == ("failed", 2), records[damaged]
    assert records[damaged].error.startswith("ValueError: invalid literal for int() with base 10: 'x'")
    for tid, r in records.items():
        if tid != damaged:
            assert (r.status, r.attempts, r.resumed_from_epoch, r.epochs_run) == ("ok", 2, 1, 3), r


def test_a_sweep_sets_a_damaged_history_aside_trains_that_member_again_and_resumes_the_others(tmp_path, mnist):
    cfg, specs, workspace, damaged = _interrupted_with_one_history_damaged(tmp_path, mnist)
    out = run_sweep(cfg, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    history = workspace.trial("h9", damaged).history
    assert f"warning: {history}: damaged history" in out.stderr and "the trial trains again" in out.stderr
    aside, = (workspace.runs / "h9" / ".damaged").iterdir()  # kept, not deleted
    assert aside.name.startswith(f"{damaged}.") and (aside / "history.csv").is_file()
    records = {s.trial_id: TrialRecord.load(workspace.trial("h9", s.trial_id).run_dir) for s in specs}
    again = records.pop(damaged)
    assert (again.status, again.attempts, again.resumed_from_epoch) == ("ok", 1, 0)
    assert [(r.status, r.attempts, r.resumed_from_epoch) for r in records.values()] == [("ok", 2, 1)] * 2
    assert pd.read_csv(history)["epoch"].tolist() == [1, 2, 3]
    assert (pd.read_csv(workspace.runs / "h9" / "results.csv")["fused_size"] == 3).all()


def _block(log_dir: Path) -> None:
    """Make a TensorBoard run that no one can write, root included: a symbolic link to itself (ELOOP);
    the sweep's repair leaves it (it is not a file where a directory belongs, it is nothing readable)."""
    log_dir.parent.mkdir(parents=True, exist_ok=True)
    log_dir.symlink_to(log_dir.name)


@pytest.mark.slow  # four small sweeps: ~40 s
def test_a_member_that_cannot_write_its_tensorboard_run_fails_alone_as_unfused_and_alone_is_retried(tmp_path):
    cfg, specs, _ = _group(tmp_path, "tb", epochs=2, lrs=[0.1, 0.2, 1.0e+30])
    blocked = next(s.trial_id for s in specs if s.trial_id == "lr=0.2")
    want = {"lr=0.1": "ok", blocked: "failed", specs[2].trial_id: "diverged"}
    for side, extra in (("fused", ()), ("unfused", ("--fuse", "off"))):
        (tmp_path / side).mkdir()
        _block(tmp_path / side / "eventlog" / "tb" / run_name(blocked))
        out = run_sweep(cfg, tmp_path / side, *extra)
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stdout + out.stderr
        df = pd.read_csv(tmp_path / side / "runs" / "tb" / "results.csv").set_index("trial_id")
        assert df["status"].to_dict() == want, (side, df["error"].to_dict())
        assert df.loc[blocked, "error"].startswith(("NotFoundError", "FailedPreconditionError", "UnknownError"))
    runs = tmp_path / "fused" / "runs" / "tb"
    assert (pd.read_csv(runs / "results.csv")["fused_size"] == 3).all()
    kept = (runs / "lr=0.1" / "trial.json").read_bytes()
    (tmp_path / "fused" / "eventlog" / "tb" / run_name(blocked)).unlink()
    again = run_sweep(cfg, tmp_path / "fused", "--retry-failed")
    assert "1 already finished, 2 to run" in again.stdout, again.stdout + again.stderr  # failed and diverged
    df = pd.read_csv(runs / "results.csv").set_index("trial_id")
    assert df["status"].to_dict() == {**want, blocked: "ok"}
    assert (runs / "lr=0.1" / "trial.json").read_bytes() == kept  # the ok one is not trained again


def test_a_member_whose_model_cannot_be_kept_fails_alone(tmp_path, mnist, monkeypatch):
    _, specs, workspace = _group(tmp_path, "keep", epochs=1)
    refused = workspace.trial("keep", specs[1].trial_id).model
    save_model = keep.save_model

    def read_only_there(model, path):  # root writes whatever the mode: the save is refused as a read-only disk does
        if Path(path) == refused:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        save_model(model, path)
    monkeypatch.setattr(keep, "save_model", read_only_there)
    records = run_group(specs, workspace, mnist)
    assert [r.status for r in records] == ["ok", "failed", "ok"], [r.error for r in records]
    assert records[1].error == f"OSError: [Errno {errno.EROFS}] Read-only file system: '{refused}'"
    assert [workspace.trial("keep", s.trial_id).model.is_file() for s in specs] == [True, False, True]


def test_a_member_that_cannot_checkpoint_mid_epoch_leaves_its_group_there_the_others_train_on(tmp_path, mnist):
    _, specs, workspace = _group(tmp_path, "ck", epochs=2, logging={"checkpoint_steps": 2})
    blocked = workspace.trial("ck", specs[0].trial_id).checkpoint
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where its checkpoints go")  # its first save, at step 2 of 6, fails
    records = run_group(specs, workspace, mnist)
    assert [r.status for r in records] == ["failed", "ok", "ok"], [r.error for r in records]
    assert records[0].error.startswith("FileExistsError") and not blocked.with_name("history.csv").exists()
    assert [r.epochs_run for r in records[1:]] == [2, 2]
