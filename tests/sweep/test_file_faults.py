"""Fault injection at the file layer: every file a command reads, damaged, emptied, of the wrong kind or
unreadable. The command names the path in one line, never shows a traceback, and loses no finished result."""

from __future__ import annotations

import pytest
from PIL import Image

from fixtures_faults import FAULTS, NAME, TRIALS, results_kept
from harness import cli
from harness.analysis import compare, plots
from harness.serving import predict
from harness.sweep import hparams_union

T = TRIALS[0]
RUNS, TRIAL = f"runs/{NAME}", f"runs/{NAME}/{T}"


def _digit(root):
    path = root / "digit.png"
    image = Image.new("L", (28, 28))
    image.paste(255, (12, 4, 16, 24))  # a one
    image.save(path)
    return str(path)


COMMANDS = {  # name -> (argv for the sweep copy at root and the file damaged, main)
    "compare": (lambda root, file: [str(root / RUNS)], compare.main),
    "plot": (lambda root, file: [str(root / RUNS), "--out", str(root / "plots-out")]
             + ([] if file.endswith("history.csv") else ["--no-curves"]), plots.main),  # (curves: 0.3 s a trial)
    "predict": (lambda root, file: ["--trial", str(root / TRIAL), _digit(root)], predict.main),
    "dry-run": (lambda root, file: [str(root / f"{NAME}.yaml"), "--runs", str(root / "runs"), "--eventlog",
                                    str(root / "eventlog"), "--dry-run"], cli.main),
    "hparams": (lambda root, file: ["--eventlog", str(root / "eventlog")], hparams_union.main),
}
READS = {  # command -> the files it reads, each to be named when it is damaged
    "compare": [f"{RUNS}/results.csv", f"{RUNS}/sweep.yaml"],
    "plot": [f"{RUNS}/results.csv", f"{TRIAL}/history.csv"],  # (its sweep.yaml: read as compare reads it)
    "predict": [f"{TRIAL}/model.keras", f"{TRIAL}/trial.json"],
    "dry-run": [f"{TRIAL}/trial.json", f"{TRIAL}/config.yaml"],
    "hparams": ["eventlog/O/hparams_experiment.pb", f"eventlog/{NAME}/hparams_experiment.pb"],
}
CASES = [(c, f, fault) for c, files in READS.items() for f in files for fault in FAULTS]


@pytest.mark.parametrize("command,file,fault", CASES, ids=[f"{c}-{f.rsplit('/', 1)[1]}-{x}" for c, f, x in CASES])
def test_a_damaged_file_is_named_in_one_line_and_no_result_is_lost(sweep_copy, capsys, command, file, fault):
    argv, main = COMMANDS[command]
    args = argv(sweep_copy, file)
    capsys.readouterr()
    kept = results_kept(sweep_copy)
    FAULTS[fault](sweep_copy / file)
    status = main(args)  # an exception here is the traceback a user would have seen
    out, err = capsys.readouterr()
    assert status in (0, 1, 2) and "Traceback" not in out + err
    named = [line for line in (out + err).splitlines() if str(sweep_copy / file) in line]
    assert named, f"{file} ({fault}) not named by {command}:\n{out}\n{err}"
    assert all(line.startswith(("error: ", "warning: ", "note: ")) or ": error: " in line for line in named), named
    after = results_kept(sweep_copy)
    assert all(after.get(k) == v for k, v in kept.items() if k != file), "a finished result was lost"


def test_a_sweep_resumes_over_damaged_files_of_others_and_its_own_rebuilt_files(sweep_copy):
    from sweeps import run_sweep

    kept = results_kept(sweep_copy)
    damaged = {"eventlog/O/hparams_experiment.pb": "garbage", f"{RUNS}/results.csv": "garbage", f"{RUNS}/sweep.yaml": "empty",
               f"eventlog/{NAME}/hparams_experiment.pb": "empty"}
    for file, fault in damaged.items():
        FAULTS[fault](sweep_copy / file)
    out = run_sweep(sweep_copy / f"{NAME}.yaml", sweep_copy)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and str(sweep_copy / "eventlog/O/hparams_experiment.pb") in warnings[0], out.stderr
    assert "2 trials (2 already finished, 0 to run)" in out.stdout  # nothing trained again
    assert results_kept(sweep_copy) == kept
    assert compare.load(sweep_copy / RUNS)["status"].tolist() == ["ok", "ok"]  # its own files, written again
    assert compare.metric_of(sweep_copy / RUNS) == ("best_val_accuracy", "maximize")


def test_plot_draws_what_it_can_and_names_what_it_skipped(sweep_copy, capsys):
    FAULTS["garbage"](sweep_copy / RUNS / "results.csv")
    FAULTS["garbage"](sweep_copy / TRIAL / "history.csv")
    out_dir = sweep_copy / "plots-out"
    assert plots.main([str(sweep_copy / RUNS), "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert f"note: {sweep_copy / RUNS / 'results.csv'}: not a readable results table" in out
    assert "plotting from the trial records instead" in out
    assert f"note: {sweep_copy / TRIAL / 'history.csv'}: not a readable history" in out
    assert (out_dir / TRIALS[1] / "curves.png").is_file() and not (out_dir / T).exists()
    assert {"pareto.png", "validation_curves.png", "best_val_accuracy_vs_model_hidden.png"} <= {  # the sweep's metric
        p.name for p in out_dir.iterdir()}


HOSTILE = {  # JSON and YAML that parse, or would, but must not be read whole: too large, too deep
    "huge": lambda p: p.write_bytes(b'{"a": "' + b"x" * (17 * 2**20) + b'"}\n'),
    "deep": lambda p: p.write_bytes(b"[" * 200_000 + b"]" * 200_000 + b"\n"),
}
READ_BACK = [("compare", f"{RUNS}/sweep.yaml"), ("compare", f"{RUNS}/confirm.json"), ("dry-run", f"{TRIAL}/trial.json"),
             ("dry-run", f"{TRIAL}/config.yaml"), ("predict", f"{TRIAL}/trial.json")]


@pytest.mark.parametrize("command,file", READ_BACK, ids=[f"{c}-{f.rsplit('/', 1)[1]}" for c, f in READ_BACK])
@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_a_hostile_json_or_yaml_file_is_named_in_one_line(sweep_copy, capsys, command, file, hostile):
    """Every JSON and YAML file the harness reads back goes through files.read_text's size cap and a parser
    that survives nesting: the command names the file and goes on or stops, never a traceback."""
    argv, main = COMMANDS[command]
    args = argv(sweep_copy, file)
    capsys.readouterr()
    HOSTILE[hostile](sweep_copy / file)
    status = main(args)
    out, err = capsys.readouterr()
    assert status in (0, 1, 2) and "Traceback" not in out + err
    named = [line for line in (out + err).splitlines() if str(sweep_copy / file) in line]
    assert named and all(len(line) < 400 for line in named), f"{file} ({hostile}) not named by {command}:\n{out}\n{err}"
    says = {"huge": "larger than 16 MiB", "deep": "nested too deeply"}[hostile]
    assert any(says in line for line in named), named
