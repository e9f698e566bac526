"""Damaged files in a sweep folder: each reported with its path and handled, no other trial's result lost."""

import json
import shutil

import pandas as pd
import pytest
import yaml

from harness.analysis import results
from harness.layout import Workspace
from harness.record import DamagedRecord, TrialRecord
from harness.sweep import repair
from sweeps import run_sweep, write_config

SMALL = {"data": {"limit": 300, "test_limit": 100}}
GOOD = {"trial_id": "t", "experiment": "e", "status": "ok", "attempts": 1, "test_accuracy": 0.9}


@pytest.mark.parametrize("content,words", [
    ('{"status": "ok"}', ["trial_id: missing", "experiment: missing"]),
    ("[1, 2]", ["must be a JSON object, got list"]),
    (json.dumps({**GOOD, "attempts": "x"}), ["attempts = 'x': must be an integer"]),
    (json.dumps({**GOOD, "status": "done"}), ["status = 'done': must be one of pending, running, ok"]),
    (json.dumps({**GOOD, "test_accuracy": "0.9", "settings": [1]}), ["test_accuracy = '0.9': must be a number",
                                                                     "settings = [1]: must be an object"]),
    (json.dumps({**GOOD, "trial_id": "../../elsewhere"}), ["trial_id = '../../elsewhere': must be one directory name"]),
    ('{"trial_id": "t", "exp', ["not valid JSON"]),
    ("[" * 100_000, ["JSON nested too deeply"]),
    (b"\xff\xfe{}", ["not UTF-8 text"]),
    (b'{"a": "' + b"x" * (17 * 2**20) + b'"}', ["larger than 16 MiB"]),
])
def test_a_damaged_record_says_which_file_and_what_is_wrong(tmp_path, content, words):
    (tmp_path / "t").mkdir()
    path = tmp_path / "t" / "trial.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DamagedRecord) as err:
        TrialRecord.load(tmp_path / "t")
    assert str(err.value).startswith(f"{path}: damaged trial record: ")
    assert all(w in str(err.value) for w in words), str(err.value)


def test_records_load_or_say_why(tmp_path, capsys):
    assert TrialRecord.load(tmp_path / "none") is None  # no record yet: nothing wrong
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "trial.json").write_text(json.dumps({**GOOD, "trial_id": "good", "unknown_key": 1}))
    assert TrialRecord.load(tmp_path / "good").attempts == 1  # keys of a newer harness are ignored
    (tmp_path / "file").write_text("{}")
    with pytest.raises(DamagedRecord, match="is a file, not a trial directory"):
        TrialRecord.load(tmp_path / "file")
    (tmp_path / "dir" / "trial.json").mkdir(parents=True)
    with pytest.raises(DamagedRecord, match="is a directory, not a file"):
        TrialRecord.load(tmp_path / "dir")
    # A results table leaves out a damaged record, naming it, and keeps the others.
    assert [r.trial_id for r in results.load_records(tmp_path)] == ["good"]
    assert f"{tmp_path / 'dir' / 'trial.json'}: damaged trial record" in capsys.readouterr().err


def damage(trial_dir, how):
    """Turn a finished trial's folder (a copy of another's, re-labelled) into one damaged `how`."""
    record = json.loads((trial_dir / "trial.json").read_text())
    (trial_dir / "trial.json").write_text(json.dumps({**record, "trial_id": trial_dir.name}))
    config = yaml.safe_load((trial_dir / "config.yaml").read_text())
    config["model"]["hidden"] = [int(trial_dir.name.split("=")[1])]
    (trial_dir / "config.yaml").write_text(yaml.safe_dump(config))
    if how == "status only":
        (trial_dir / "trial.json").write_text('{"status": "ok"}')
    elif how == "a list":
        (trial_dir / "trial.json").write_text("[1, 2]")
    elif how == "attempts x":
        (trial_dir / "trial.json").write_text(json.dumps({**record, "trial_id": trial_dir.name, "attempts": "x"}))
    elif how == "folder is a file":
        shutil.rmtree(trial_dir)
        trial_dir.write_text("not a trial")
    elif how == "config is a list":
        (trial_dir / "config.yaml").write_text("- a\n- b\n")


HOW = {  # trial (by its hidden width) -> damage, and what the warning must say
    4: ("status only", "trial_id: missing"),
    5: ("a list", "must be a JSON object, got list"),
    6: ("attempts x", "attempts = 'x': must be an integer"),
    7: ("folder is a file", "is a file, not a trial directory"),
    8: ("config is a list", "damaged trial config: must be a mapping of sections, got list"),
}


@pytest.mark.slow
def test_damaged_trials_are_set_aside_and_run_again_the_others_kept(tmp_path):
    grid = lambda widths: {"parameters": {"model.hidden": [[w] for w in widths]}}  # noqa: E731
    first = run_sweep(write_config(tmp_path, "dmg", **SMALL, sweep=grid([11])), tmp_path)
    assert first.returncode == 0, first.stderr
    sweep_dir = tmp_path / "runs" / "dmg"
    intact = (sweep_dir / "hidden=11" / "trial.json").read_bytes()
    for width, (how, _) in HOW.items():  # the damaged trials' folders, made from the finished one's
        shutil.copytree(sweep_dir / "hidden=11", sweep_dir / f"hidden={width}")
        damage(sweep_dir / f"hidden={width}", how)
    cfg = write_config(tmp_path, "dmg", **SMALL, sweep=grid([*HOW, 11]))

    # A dry run names every damage and moves nothing.
    dry = run_sweep(cfg, tmp_path, "--dry-run")
    assert dry.returncode == 0 and f"1 already finished, {len(HOW)} to run" in dry.stdout, dry.stderr
    assert "Traceback" not in dry.stderr and not (sweep_dir / ".damaged").exists()
    assert dry.stderr.count("a real run moves") == len(HOW)

    again = run_sweep(cfg, tmp_path, "--workers", "2")
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    assert f"1 already finished, {len(HOW)} to run" in again.stdout
    for width, (how, words) in HOW.items():
        trial_dir = sweep_dir / f"hidden={width}"
        named = str(trial_dir) + ("" if how == "folder is a file" else "/")
        warning = next(line for line in again.stderr.splitlines() if line.startswith(f"warning: {named}"))
        assert words in warning, (how, warning)
        assert TrialRecord.load(trial_dir).status == "ok" and (trial_dir / "model.keras").is_file()
    assert (sweep_dir / "hidden=11" / "trial.json").read_bytes() == intact  # untouched, not re-run
    aside = sorted(p.name.split(".")[0] for p in (sweep_dir / ".damaged").iterdir())
    assert aside == sorted(f"hidden={w}" for w in HOW)  # kept, not deleted
    assert next((sweep_dir / ".damaged").glob("hidden=7.*")).read_text() == "not a trial"
    df = pd.read_csv(sweep_dir / "results.csv")
    assert len(df) == len(HOW) + 1 and (df["status"] == "ok").all()

    settled = run_sweep(cfg, tmp_path, "--dry-run")
    assert f"{len(HOW) + 1} already finished, 0 to run" in settled.stdout and "warning" not in settled.stderr


@pytest.mark.parametrize("what", ["results.csv", ".sweep.lock", "plots", "runs/E", "eventlog/E",
                                  "eventlog/E/hparams_experiment.pb"])
def test_sweep_files_of_the_wrong_kind_stop_the_sweep_before_training(tmp_path, what):
    cfg = write_config(tmp_path, "E", **SMALL)
    sweep_dir, log_dir = tmp_path / "runs" / "E", tmp_path / "eventlog" / "E"
    target = {"runs/E": sweep_dir, "eventlog/E": log_dir}.get(what, tmp_path / what if "/" in what else sweep_dir / what)
    target.parent.mkdir(parents=True, exist_ok=True)
    if what in ("results.csv", ".sweep.lock", "eventlog/E/hparams_experiment.pb"):
        target.mkdir()
    else:
        target.write_text("in the way")
    out = run_sweep(cfg, tmp_path, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith("error: ") and str(target) in out.stderr
    assert not (sweep_dir / "base").exists()  # nothing trained


def test_a_trial_whose_files_are_of_the_wrong_kind_is_set_aside(tmp_path):
    """repair.prepare on its own (the sweep tests above drive it through sweep.py)."""
    sweep = Workspace(tmp_path / "runs", tmp_path / "eventlog").sweep("E")
    kinds = {"lock": (".lock", "dir"), "model": ("model.keras", "dir"), "history": ("history.csv", "dir"),
             "checkpoint": ("checkpoint", "file")}
    for tid, (name, kind) in {**kinds, "fine": ("history.csv", "file")}.items():
        run_dir = sweep.trial(tid).run_dir
        run_dir.mkdir(parents=True)
        TrialRecord(tid, "E", status="ok").save(run_dir)
        (run_dir / name).mkdir() if kind == "dir" else (run_dir / name).write_text("x")
    sweep.log_dir.mkdir(parents=True)
    (sweep.log_dir / "fine").mkdir()
    TrialRecord("logs", "E", status="ok").save(sweep.trial("logs").run_dir)
    sweep.trial("logs").log_dir.write_text("not a run directory")
    warnings = []
    ids = [*kinds, "logs", "fine", "new"]
    records = repair.prepare(sweep, ids, warn=warnings.append)
    assert {t for t, r in records.items() if r is not None} == {"fine"}  # "new" has no record yet
    assert len(warnings) == 5 and all(w.startswith("warning: ") and "the trial trains again" in w for w in warnings)
    assert any(f"{sweep.trial('logs').log_dir}: is a file where a directory belongs" in w for w in warnings)
    assert sorted(p.name.split(".")[0] for p in (sweep.run_dir / ".damaged").iterdir()) == sorted([*kinds, "logs"])
    assert not sweep.trial("logs").log_dir.exists() and (sweep.log_dir / "fine").is_dir()
    assert repair.prepare(sweep, ids, warn=warnings.append)["fine"].status == "ok" and len(warnings) == 5


@pytest.mark.parametrize("history", [b"\xff\xfe garbage", b"step,loss\n1,2\n", b"epoch,step\nnot a number,1\n",
                                     b"epoch,step,loss\n1,x,0.5\n", b"epoch,step,loss\n1,6,low\n"])
def test_an_unfinished_trial_whose_history_is_damaged_trains_again_a_finished_one_keeps_its_result(tmp_path, history):
    sweep = Workspace(tmp_path / "runs", tmp_path / "eventlog").sweep("E")
    for tid, status in [("running", "running"), ("done", "ok")]:
        TrialRecord(tid, "E", status=status).save(sweep.trial(tid).run_dir)
        sweep.trial(tid).history.write_bytes(history)
    warnings = []
    records = repair.prepare(sweep, ["running", "done"], warn=warnings.append)
    assert records["running"] is None and records["done"].status == "ok"
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {sweep.trial('running').history}: damaged history")
    assert not sweep.trial("running").run_dir.exists() and sweep.trial("done").history.read_bytes() == history
