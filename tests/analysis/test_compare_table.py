"""What `python -m harness compare` prints, read as a newcomer reads it, at COLUMNS=80."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = [(h, d, lr, opt) for h in ("128", "512,256") for d in (0.0, 0.2) for lr in (0.001, 0.01)
            for opt in ("adam", "rmsprop")]


def sweep(tmp_path: Path, name: str, epochs: int = 3, shift: float = 0.0) -> Path:
    """A results.csv shaped like quick.yaml's (16 settings x 2 repeats), plus one pruned and one failed trial."""
    rows = []
    for i, (h, d, lr, opt) in enumerate(SETTINGS):
        for rep in range(2):
            acc = 0.9795 - 0.002 * i + 0.001 * rep + shift
            rows.append({"trial_id": f"hidden={h},dropout={d},lr={lr},optimizer={opt},rep={rep}",
                         "group": f"hidden={h},dropout={d},lr={lr},optimizer={opt}", "model.hidden": h,
                         "model.dropout": d, "train.lr": lr, "train.optimizer": opt, "status": "ok",
                         "test_accuracy": acc - 0.003, "best_val_accuracy": acc, "epochs_run": epochs,
                         "train_seconds": 12.345 + i, "params": 101770 if h == "128" else 535818, "repeat": rep})
    rows[-1]["status"], rows[-2]["status"] = "pruned", "failed"
    rows[-2]["best_val_accuracy"] = rows[-2]["test_accuracy"] = None
    d = tmp_path / "runs" / name
    d.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(d / "results.csv", index=False)
    (d / "sweep.yaml").write_text(yaml.safe_dump({"name": name, "train": {"epochs": epochs}, "sweep": {
        "metric": {"name": "best_val_accuracy", "goal": "maximize"}}}))
    return d


def compare(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80"}
    out = subprocess.run([sys.executable, "-m", "harness", "compare", *map(str, args)], capture_output=True,
                         text=True, cwd=cwd, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    return out


def test_the_table_says_what_it_shows_in_80_columns(tmp_path):
    out = compare(sweep(tmp_path, "quick"), cwd=tmp_path)
    lines = out.stdout.splitlines()
    assert max(map(len, lines)) <= 80, max(lines, key=len)
    text = " ".join(lines)
    assert "best validation accuracy" in text and "validation split" in text and "95% confidence interval" in text
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["hidden", "dropout"])
    assert lines[head].split() == ["hidden", "dropout", "lr", "optimizer", "val", "acc", "test", "acc", "params",
                                   "epochs", "seconds"]
    first = lines[head + 1].split()
    assert first[:4] == ["128", "0.0", "0.001", "adam"]
    assert " ".join(first[4:]) == "98.00 ± 0.64 97.70 102k 3 12.3"  # mean of 0.9795 and 0.9805, in percent
    assert "32 trials: 30 ok, 1 failed, 1 pruned (only ok trials are in the table)." in text
    verdict = text[text.index("Verdict:"):]
    assert "leader (optimizer=adam) beats the runner-up (optimizer=rmsprop) by 0.20 points" in verdict and "within noise" in verdict
    assert "both with hidden=128, dropout=0.0, lr=0.001" in verdict


def test_markdown_and_csv_stay_machine_readable(tmp_path):
    d = sweep(tmp_path, "quick")
    md = compare(d, "--format", "markdown", cwd=tmp_path).stdout
    assert "| hidden | dropout | lr | optimizer | val acc | test acc | params | epochs | seconds |" in md
    csv = compare(d, "--format", "csv", cwd=tmp_path).stdout.splitlines()
    assert csv[0] == ("model.hidden,model.dropout,train.lr,train.optimizer,n,mean,std,ci95,best,test_accuracy,"
                      "params,epochs_run,train_seconds")
    assert csv[1].startswith("128,0.0,0.001,adam,2,0.98")


def test_pivot_and_diff_name_the_metric_and_what_differs(tmp_path):
    a, b = sweep(tmp_path, "quick"), sweep(tmp_path, "quick-1ep", epochs=1, shift=-0.01)
    pivot = " ".join(compare(a, "--pivot", "hidden", "lr", cwd=tmp_path).stdout.split())
    assert "Mean best validation accuracy (best_val_accuracy, on the validation split, %" in pivot
    assert "hidden down, lr across. hidden 0.001 0.01 128 " in pivot
    diff = compare(a, b, cwd=tmp_path).stdout
    assert max(map(len, diff.splitlines())) <= 80
    flat = " ".join(diff.split())
    assert "mean best validation accuracy" in flat and "difference = quick-1ep - quick" in flat
    assert "their configs differ in train.epochs 3 -> 1" in flat
    assert "-1.00" in diff  # points of accuracy, signed


def test_no_library_warning_leaks_into_the_output(tmp_path):
    d = tmp_path / "s"
    d.mkdir()
    rows = [{"trial_id": f"{g}{i}", "group": g, "model.dropout": drop, "status": "ok", "best_val_accuracy": acc,
             "repeat": i} for g, drop, accs in [("a", 0.1, [0.9774, 0.9772, 0.9772]), ("b", 0.2, [0.9772] * 3)]
            for i, acc in enumerate(accs)]
    pd.DataFrame(rows).to_csv(d / "results.csv", index=False)
    out = compare(d, "--where", "dropout<0.5", cwd=tmp_path)
    assert "Precision loss" not in out.stderr + out.stdout and "Warning" not in out.stderr
    assert re.search(r"Verdict: .* by 0\.01 points", " ".join(out.stdout.split()))
