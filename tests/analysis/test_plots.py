"""Plots of a real small sweep: files written and valid, the Pareto front, the plot command, edge cases."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from matplotlib.colors import to_hex
from matplotlib.container import ErrorbarContainer

from harness.analysis import plots, search_plots
from harness.__main__ import main as harness_main
from sweeps import ROOT, sweep_cmd, write_config

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
UMASK = os.umask(0o022)
os.umask(UMASK)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A real sweep: lr x hidden, 2 repeats, 2 epochs each (8 trials, ~30 s on 2 cores)."""
    tmp = tmp_path_factory.mktemp("plots")
    cfg = write_config(tmp, "plotgrid", train={"epochs": 2},
                       sweep={"repeats": 2, "parameters": {"train.lr": [0.001, 0.01], "model.hidden": [[16], [32]]}})
    out = subprocess.run(sweep_cmd(cfg, tmp, "--workers", "2"), capture_output=True, text=True, timeout=600,
                         cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    sweep_dir = tmp / "runs" / "plotgrid"
    # Nothing is drawn while the sweep runs or at its end: plots are drawn on demand.
    assert not list(sweep_dir.glob("*/curves.*")) and not (sweep_dir / "plots").exists()
    assert f"python -m harness plot {sweep_dir}" in out.stdout
    return sweep_dir


@pytest.fixture(scope="module")
def written(sweep):
    return plots.write_sweep_plots(sweep, force=True)


def _is_png(path, min_bytes=10_000):
    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and len(data) > min_bytes


def test_sweep_plots_written_and_real(sweep, written):
    df = pd.read_csv(sweep / "results.csv")
    ok = df[df["status"] == "ok"]
    assert len(ok) == 8
    assert len(set(written)) == len(written) and all(p.exists() for p in written)
    for tid in ok["trial_id"]:  # learning curves for every ok trial, PNG and SVG
        png, svg = sweep / tid / "curves.png", sweep / tid / "curves.svg"
        assert png in written and svg in written
        assert _is_png(png)
        text = svg.read_text()
        assert "<svg" in text and text.count("<path") > 10
    plots_dir = sweep / "plots"
    expected = {plots_dir / "test_accuracy_vs_train_lr.png", plots_dir / "test_accuracy_vs_model_hidden.png",
                plots_dir / "pareto.png"}
    assert expected <= set(written)
    assert len(written) == 2 * len(ok) + len(expected)
    for path in expected:
        assert _is_png(path, 20_000), path


def test_up_to_date_curves_are_kept(sweep, written):
    notes = []
    again = plots.write_sweep_plots(sweep, log=notes.append)
    assert not any(p.name.startswith("curves.") for p in again)  # nothing changed: only the sweep plots redrawn
    assert {p.name for p in again} == {"test_accuracy_vs_train_lr.png", "test_accuracy_vs_model_hidden.png",
                                       "pareto.png"}
    assert any("8 trial(s) already up to date" in n for n in notes)


def test_plot_command(sweep, written, tmp_path):
    out = subprocess.run([sys.executable, "-m", "harness", "plot", str(sweep), "--out", str(tmp_path / "out"),
                          "--metric", "test_accuracy", "--no-curves"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert _is_png(tmp_path / "out" / "test_accuracy_vs_train_lr.png")
    assert _is_png(tmp_path / "out" / "pareto_test_accuracy.png")  # not the sweep's own metric
    assert "wrote" in out.stdout
    assert not list(tmp_path.glob("out/*/curves.png"))


def test_plot_command_errors(tmp_path, capsys):
    assert harness_main(["plot", str(tmp_path / "missing")]) == 2
    assert "no sweep directory" in capsys.readouterr().err
    (tmp_path / "s").mkdir()
    pd.DataFrame({"trial_id": ["a"], "group": ["a"], "status": ["ok"], "test_accuracy": [0.9],
                  "train_seconds": [1.0]}).to_csv(tmp_path / "s" / "results.csv", index=False)
    assert harness_main(["plot", str(tmp_path / "s"), "--metric", "nope"]) == 2
    assert "'nope' is not a column" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        harness_main(["plot", "--help"])
    assert e.value.code == 0 and "Pareto" in capsys.readouterr().out


def test_empty_and_single_trial_sweeps_do_not_crash(tmp_path, capsys):
    cols = ["trial_id", "group", "train.lr", "status", "test_accuracy", "train_seconds"]
    empty = tmp_path / "empty"
    empty.mkdir()
    pd.DataFrame(columns=cols).to_csv(empty / "results.csv", index=False)
    assert plots.write_sweep_plots(empty) == []
    failed = tmp_path / "failed"
    failed.mkdir()
    pd.DataFrame([["a", "a", 0.1, "failed", None, None], ["b", "b", 0.01, "diverged", None, 3.0]],
                 columns=cols).to_csv(failed / "results.csv", index=False)
    assert harness_main(["plot", str(failed), "--metric", "test_accuracy"]) == 0
    assert "no trial finished ok" in capsys.readouterr().out
    one = tmp_path / "one"
    one.mkdir()
    pd.DataFrame([["a", "a", 0.1, "ok", 0.9, 2.0], ["b", "b", 0.01, "failed", None, None]],
                 columns=cols).to_csv(one / "results.csv", index=False)
    notes = []
    assert plots.write_sweep_plots(one, log=notes.append) == []  # one value, one trial: nothing to compare
    assert any("no test_accuracy_vs_train_lr.png" in n for n in notes)
    assert any("no pareto.png" in n for n in notes)


def test_pareto_front_known_answer():
    df = pd.DataFrame({
        "test_accuracy": [0.90, 0.95, 0.80, 0.95, 0.85, 0.99, np.nan, 0.90],
        "train_seconds": [10.0, 20.0, 5.0, 25.0, 12.0, 50.0, 1.0, 10.0],
    }, index=list("abcdefgh"))
    # a: fastest at .90 (h ties it exactly: both kept); b beats d (same accuracy, faster); c is the fastest;
    # e is beaten by a (better and faster); f is the most accurate; g has no accuracy.
    front = plots.pareto_front(df, "test_accuracy", "maximize")
    assert front.dtype == bool and list(front.index) == list(df.index)
    assert sorted(df.index[front]) == ["a", "b", "c", "f", "h"]
    # Minimizing a loss: lower is better.
    loss = pd.DataFrame({"test_loss": [0.5, 0.3, 0.3, 0.1], "train_seconds": [1.0, 2.0, 3.0, 9.0]})
    assert plots.pareto_front(loss, "test_loss", "minimize").tolist() == [True, True, False, True]
    assert plots.pareto_front(df.iloc[:0], "test_accuracy", "maximize").empty
    with pytest.raises(ValueError):
        plots.pareto_front(df, "test_accuracy", "best")


def test_parameter_axes():
    assert plots.param_kind(pd.Series([0.001, 0.01])) == "numeric"
    assert plots.param_kind(pd.Series(["512,256", "128"])) == "categorical"
    assert plots.param_kind(pd.Series(["adam", "sgd"])) == "categorical"
    assert plots.category_order(pd.Series(["512", "128,64", "64", "128", "64"])) == ["64", "128", "128,64", "512"]
    assert plots.category_order(pd.Series(["sgd", "adam", "sgd", "rmsprop"])) == ["sgd", "adam", "rmsprop"]
    assert plots._log_axis(np.array([1e-4, 1e-2])) and not plots._log_axis(np.array([0.0, 0.2]))


def test_the_plot_command_uses_the_sweeps_metric(sweep, written, tmp_path):
    out = subprocess.run([sys.executable, "-m", "harness", "plot", str(sweep), "--out", str(tmp_path / "own"),
                          "--no-curves"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    names = {p.name for p in (tmp_path / "own").iterdir()}
    assert {"best_val_accuracy_vs_train_lr.png", "best_val_accuracy_vs_model_hidden.png", "pareto.png",
            "validation_curves.png", "search_progress.png"} == names
    for p in (tmp_path / "own").iterdir():  # readable by whoever serves or shares them, as open() would make them
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~UMASK, p


def test_per_parameter_plots_show_the_spread_of_repeats(sweep):
    df = pd.read_csv(sweep / "results.csv")
    fig = plots.metric_vs_param(df, "train.lr", "best_val_accuracy")
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer) and len(c.lines[0].get_xdata())]
    assert len(bars) == 4  # one per setting (lr x hidden), each over its 2 repeats
    for bar in bars:
        (low, high), = [seg[:, 1] for seg in bar.lines[2][0].get_segments()]
        mean = bar.lines[0].get_ydata()[0]
        assert low <= mean <= high and high > low
    single = df[(df["repeat"] == 0) & (df["model.hidden"] == 16)]  # one trial per value: no line through them
    lone = plots.metric_vs_param(single, "train.lr", "best_val_accuracy").axes[0]
    assert not [line for line in lone.lines if len(line.get_xdata()) > 1]


def test_validation_curves_tell_settings_apart(sweep):
    df = pd.read_csv(sweep / "results.csv")
    fig = search_plots.validation_curves_plot(sweep, df, "best_val_accuracy", "maximize", labelled=3)
    lines = [line for line in fig.axes[0].lines if len(line.get_xdata())]
    assert len(lines) == 8
    by_group = {}
    for line, group in zip(lines, df["group"]):
        by_group.setdefault(group, set()).add(to_hex(line.get_color()))
    assert all(len(c) == 1 for c in by_group.values())  # repeats share a colour...
    assert len({c for cs in by_group.values() for c in cs}) == 4  # ...settings do not
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    order = search_plots.ranked_groups(df, "best_val_accuracy", "maximize")
    assert legend == [f"{i}. {g}" for i, g in enumerate(order[:3], 1)]  # the best three, best first, no "pruned"
    assert "4 settings" in fig.axes[0].get_title()


def test_slow_plotting_says_how_far_it_got(sweep):
    notes = []
    plots.write_sweep_plots(sweep, force=True, log=notes.append, tick=0)
    assert [n for n in notes if n.startswith("learning curves: ")][:2] == ["learning curves: 0/8 trials drawn ...",
                                                                           "learning curves: 1/8 trials drawn ..."]


def test_the_importance_plot_has_a_title(sweep):
    from harness.analysis.importance import importance_plot, importances

    df = pd.read_csv(sweep / "results.csv")
    fig = importance_plot(importances(df, "best_val_accuracy", "maximize"), "best_val_accuracy")
    assert "best_val_accuracy" in fig.axes[0].get_title()
