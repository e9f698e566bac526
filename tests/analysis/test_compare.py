"""The compare command on constructed results with known answers."""

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.analysis import compare, display




def results(rows):
    df = pd.DataFrame(rows)
    df.insert(0, "sweep", "s")
    for col, default in [("status", "ok"), ("train_seconds", 10.0), ("repeat", 0), ("group", "")]:
        df[col] = df[col].fillna(default) if col in df else default
    return df.astype({"repeat": int})


def constructed():
    """adam/0.0 clearly best (0.98 +- 0.001), adam/0.5 close behind, sgd far behind; one failed trial."""
    rows = []
    for opt, drop, accs in [("adam", 0.0, [0.981, 0.980, 0.979]), ("adam", 0.5, [0.978, 0.977, 0.976]),
                            ("sgd", 0.0, [0.90, 0.91, 0.92]), ("sgd", 0.5, [0.88, 0.89, 0.87])]:
        for rep, acc in enumerate(accs):
            rows.append({"trial_id": f"optimizer={opt},dropout={drop},rep={rep}", "group": f"{opt}{drop}",
                         "train.optimizer": opt, "model.dropout": drop, "test_accuracy": acc, "repeat": rep,
                         "train_seconds": 20.0 if opt == "adam" else 10.0})
    rows.append({"trial_id": "broken", "group": "broken", "train.optimizer": "sgd", "model.dropout": 0.9,
                 "test_accuracy": np.nan, "status": "failed"})
    return results(rows)


def test_grouped_statistics_are_exact():
    g = compare.grouped(constructed(), ["train.optimizer", "model.dropout"], "test_accuracy", "maximize")
    top = g.iloc[0]
    assert (top["train.optimizer"], top["model.dropout"], top["n"]) == ("adam", 0.0, 3)
    assert top["mean"] == pytest.approx(0.980) and top["std"] == pytest.approx(0.001)
    assert top["ci95"] == pytest.approx(4.302653 * 0.001 / np.sqrt(3), rel=1e-5)  # t(0.975, 2)
    assert top["best"] == pytest.approx(0.981) and top["train_seconds"] == 20.0
    assert len(g) == 4  # the failed trial is left out
    by_opt = compare.grouped(constructed(), ["train.optimizer"], "test_accuracy", "maximize")
    assert by_opt["n"].tolist() == [6, 6]


def test_the_seconds_shown_are_cost_seconds_when_the_results_have_them():
    df = constructed()
    df["cost_seconds"] = np.where(df["train.optimizer"] == "adam", 4.0, 8.0)  # adam trained fused: a small share
    grouped = compare.grouped(df, ["train.optimizer"], "test_accuracy", "maximize")
    assert grouped["cost_seconds"].tolist() == [4.0, 8.0] and "train_seconds" not in grouped
    shown = display.groups_table(grouped, ["train.optimizer"], "test_accuracy")
    assert shown["seconds"].tolist() == ["4.0", "8.0"]
    ranking = display.ranking_table(compare.ranked(df, "test_accuracy", "maximize", top=2), "test_accuracy")
    assert ranking.columns.tolist().count("seconds") == 1 and ranking["seconds"].tolist() == ["4.0", "4.0"]
    assert display.seconds_column(constructed()) == "train_seconds"  # a results.csv from before cost_seconds
    assert display.number("cost_seconds", 0.01432) == "0.014" and display.number("cost_seconds", 12.345) == "12.3"


def test_pivot_and_filters():
    df = constructed()
    p = compare.pivot(df, "train.optimizer", "model.dropout", "test_accuracy")
    assert p.loc["sgd", 0.5] == pytest.approx(0.88) and p.loc["adam", 0.0] == pytest.approx(0.98)
    assert set(compare.apply_filters(df, ["optimizer=adam"])["train.optimizer"]) == {"adam"}
    assert len(compare.apply_filters(df, ["dropout<0.5", "optimizer!=sgd"])) == 3
    with pytest.raises(KeyError, match="'optimiser' is not a column"):
        compare.apply_filters(df, ["optimiser=adam"])


def test_verdict_significant_and_within_noise():
    df = constructed()
    clear = compare.verdict(df, ["train.optimizer"], "test_accuracy", "maximize", Path("runs/t"))
    assert "leader (optimizer=adam)" in clear and "significant at the 5% level" in clear
    close = compare.verdict(compare.apply_filters(df, ["optimizer=adam"]), ["model.dropout"], "test_accuracy",
                            "maximize", Path("runs/t"))
    assert "leader (dropout=0.0)" in close and "significant" in close  # 0.980 vs 0.977, tiny spread
    noisy = results([{"trial_id": f"{g}{i}", "g": g, "test_accuracy": a}
                     for g, accs in [("a", [0.95, 0.97, 0.99]), ("b", [0.96, 0.94, 0.98])]
                     for i, a in enumerate(accs)])
    noise = compare.verdict(noisy, ["g"], "test_accuracy", "maximize", Path("runs/t"))
    assert "within noise" in noise and "python -m harness confirm runs/t races" in noise  # the command, no placeholder
    single = results([{"trial_id": "x", "g": "a", "test_accuracy": 0.9}, {"trial_id": "y", "g": "b", "test_accuracy": 0.8}])
    assert compare.verdict(single, ["g"], "test_accuracy", "maximize", Path("runs/t")) is None  # no repeats, no verdict


def test_two_sweeps_side_by_side():
    a = constructed()
    b = constructed()
    b["sweep"] = "t"
    b["test_accuracy"] += 0.01
    diff = compare.side_by_side(a, b, "test_accuracy")
    assert len(diff) == 4  # the four settings with finished trials
    assert diff["difference"].dropna().round(6).eq(0.01).all()


def test_ranked_and_rendering():
    df = constructed()
    top = compare.ranked(df, "test_accuracy", "maximize", top=2)
    assert top["test_accuracy"].tolist() == [0.981, 0.980]
    md = compare.render(top, "markdown").splitlines()
    assert md[0].startswith("| train.optimizer | model.dropout | repeat | status") and md[1].startswith("|---|")
    assert compare.render(top, "csv").splitlines()[1].startswith("adam,0.0,0,ok,0.981")
    assert "(no trials)" in compare.render(top.iloc[:0], "table")


def test_command_line(tmp_path):
    sweep_dir = tmp_path / "runs" / "s"
    sweep_dir.mkdir(parents=True)
    constructed().drop(columns="sweep").to_csv(sweep_dir / "results.csv", index=False)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    run = lambda *a: subprocess.run([sys.executable, "-m", "harness", "compare", str(sweep_dir), *a],  # noqa: E731
                                    capture_output=True, text=True, cwd=tmp_path, timeout=120, env=env)
    no_metric = run()  # the sweep's metric (validation accuracy by default) is not a column of this table
    assert no_metric.returncode == 2 and "'best_val_accuracy' is not a column" in no_metric.stderr
    (sweep_dir / "sweep.yaml").write_text("sweep:\n  metric: {name: test_accuracy, goal: maximize}\n")
    out = run()  # ranks on the metric the sweep says
    assert out.returncode == 0 and "95% confidence interval" in out.stdout and "significant" in out.stdout
    out = run("--pivot", "optimizer", "dropout", "--format", "csv")
    assert out.returncode == 0 and out.stdout.splitlines()[0] == "train.optimizer,0.0,0.5"  # the failed 0.9 trial is left out
    bad = run("--group-by", "nothing")
    assert bad.returncode == 2 and "'nothing' is not a column" in bad.stderr
    missing = subprocess.run([sys.executable, "-m", "harness", "compare", str(tmp_path / "nope")],
                             capture_output=True, text=True, cwd=tmp_path, timeout=120, env=env)
    assert missing.returncode == 2 and "no results at" in missing.stderr


def test_nothing_finished_ok_is_said_with_the_failures(tmp_path):
    sweep_dir = tmp_path / "s"
    sweep_dir.mkdir()
    failed = constructed().drop(columns="sweep")
    failed["status"], failed["error"] = "failed", "OOM"
    failed.loc[0, ["status", "error"]] = ["diverged", "loss became NaN"]
    failed.to_csv(sweep_dir / "results.csv", index=False)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    run = lambda *a: subprocess.run([sys.executable, "-m", "harness", "compare", *a],  # noqa: E731
                                    capture_output=True, text=True, cwd=tmp_path, timeout=120, env=env)
    out = run(str(sweep_dir))
    assert out.returncode == 1 and "(no trials)" not in out.stdout
    assert f"no trial finished ok in {sweep_dir} (12 failed, 1 diverged):" in out.stderr
    assert "optimizer=adam,dropout=0.0,rep=0: diverged: loss became NaN" in out.stderr
    assert "broken: failed: OOM" in out.stderr
    for top in ("-1", "0", "x"):
        bad = run(str(sweep_dir), "--top", top)
        assert bad.returncode == 2 and "--top: " in bad.stderr and "at least 1" in bad.stderr
    (tmp_path / "d" / "results.csv").mkdir(parents=True)
    (tmp_path / "garbage.csv").write_bytes(b'\x00\xff "unterminated\n')
    for path, words in [(tmp_path / "d", "results.csv: not a readable results table"),
                        (tmp_path / "garbage.csv", "garbage.csv: not a readable results table")]:
        bad = run(str(path))
        assert bad.returncode == 2 and words in bad.stderr and "Traceback" not in bad.stderr


def write_sweep(root: Path, name: str, hidden: list, accs: list[float]) -> Path:
    """A results.csv of two repeats per `model.hidden` value, through pandas as a sweep writes it."""
    rows = [{"trial_id": f"hidden={h},rep={r}", "group": f"hidden={h}", "model.hidden": h, "status": "ok",
             "test_accuracy": acc + r / 1000, "best_val_accuracy": acc, "train_seconds": 1.0, "repeat": r,
             "started": f"2026-01-01T00:00:0{r}"} for h, acc in zip(hidden, accs) for r in range(2)]
    (root / name).mkdir(parents=True)
    pd.DataFrame(rows).to_csv(root / name / "results.csv", index=False)
    return root / name


def test_sweeps_align_on_values_whatever_type_the_csv_gave_them(tmp_path, capsys):
    a = write_sweep(tmp_path, "a", [16, 32], [0.90, 0.91])  # read back as integers
    b = write_sweep(tmp_path, "b", ["16", "512,256"], [0.92, 0.95])  # read back as text
    assert compare.main([str(a), str(b), "--metric", "test_accuracy", "--format", "csv"]) == 0
    rows = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype={"model.hidden": str})
    assert rows["model.hidden"].tolist().count("16") == 1
    assert rows.set_index("model.hidden").loc["16", "difference"] == pytest.approx(0.02)
    three = compare.align_keys([compare.load(a), compare.load(b), compare.load(a)])
    assert pd.concat(three)["model.hidden"].tolist().count("16") == 6  # one value, whichever sweep it came from


@pytest.mark.parametrize("metric", ["started", "status", "trial_id"])
def test_a_metric_that_is_not_numeric_is_refused_by_name(tmp_path, capsys, metric):
    a = write_sweep(tmp_path, "a", [16, 32], [0.90, 0.91])
    for argv in ([str(a)], [str(a), str(a)], [str(a), "--importance"]):
        assert compare.main([*argv, "--metric", metric]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: --metric {metric}: not numeric") and "test_accuracy" in err
        assert len(err.splitlines()) == 1


def test_trials_of_two_datasets_are_never_ranked_together(tmp_path, capsys):
    """89% is a fine Fashion-MNIST score and a poor MNIST one: a table or difference mixing them is refused,
    grouping by dataset ranks each apart, and a results.csv from before datasets reads as MNIST's."""
    a = write_sweep(tmp_path, "a", [16, 32], [0.97, 0.98])  # no dataset column: an older sweep, MNIST's
    f = write_sweep(tmp_path, "f", [16, 32], [0.86, 0.88])
    pd.read_csv(f / "results.csv").assign(dataset="fashion-mnist").to_csv(f / "results.csv", index=False)
    assert compare.main([str(a), str(f)]) == 2
    assert "trained on other datasets (fashion-mnist and mnist)" in capsys.readouterr().err
    both = tmp_path / "both"
    both.mkdir()
    pd.concat([pd.read_csv(a / "results.csv").assign(dataset="mnist"), pd.read_csv(f / "results.csv")]).to_csv(
        both / "results.csv", index=False)
    for args in ([], ["--top", "3"], ["--pivot", "hidden", "repeat"], ["--group-by", "hidden"]):
        assert compare.main([str(both), *args]) == 2, args
        assert "trained on 2 datasets (fashion-mnist, mnist): rank them apart with --group-by dataset" in (
            capsys.readouterr().err)
    assert compare.main([str(both), "--group-by", "dataset", "hidden", "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(table) == 4 and set(table["dataset"]) == {"mnist", "fashion-mnist"}
    assert compare.main([str(both), "--where", "dataset=fashion-mnist"]) == 0
