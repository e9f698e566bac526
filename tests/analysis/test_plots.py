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

from harness import layout
from harness.analysis import compare, plots, search_plots
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


# ------------------------------------------------------------------ by setting, not by trial (issue 28)


def _results(settings: dict[str, list[float]], seconds: dict[str, float] | None = None, **params) -> pd.DataFrame:
    """A hand-made results table: each setting's trials (one per value, seeds 0..n-1), its cost, its params."""
    rows = []
    for group, values in settings.items():
        for rep, value in enumerate(values):
            rows.append({"trial_id": f"{group},rep={rep}", "group": group, "status": "ok", "repeat": rep,
                         **{p: v[group] for p, v in params.items()}, "test_accuracy": value,
                         "train_seconds": (seconds or {}).get(group, 10.0) + 0.1 * rep})
    return pd.DataFrame(rows)


def _boxes(texts) -> list:
    return [t.get_window_extent() for t in texts]


def _disjoint(boxes) -> bool:
    return all(a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0
               for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_the_pareto_front_is_of_settings_and_its_top_is_the_best_mean():
    lucky, steady, cheap = "hidden=64,lr=0.003", "hidden=128,lr=0.003", "hidden=16,lr=0.01"
    df = _results({lucky: [0.99, 0.90, 0.90], steady: [0.95, 0.95, 0.96], cheap: [0.92]},
                  {lucky: 40.0, steady: 30.0, cheap: 5.0})
    fig = plots.pareto_plot(df, "test_accuracy", "maximize")
    ax = fig.axes[0]
    dots = next(c for c in ax.containers if isinstance(c, ErrorbarContainer))
    means = df.groupby("group")["test_accuracy"].mean()
    assert sorted(dots.lines[0].get_ydata()) == pytest.approx(sorted(means))  # one point per setting, its mean
    assert 0.99 not in dots.lines[0].get_ydata()  # the lucky seed is no point of its own
    front = ax.collections[-1].get_offsets()  # the circled points: the lucky setting is beaten (worse, dearer)
    assert np.asarray(sorted(map(tuple, front))) == pytest.approx(np.array([(5.0, 0.92), (30.1, means[steady])]))
    labels = {t.get_text(): t.xy for t in ax.texts}
    assert set(labels) == {"h16,lr.01", "h128,lr.003"}  # the run names compare and the verdict use
    assert max(labels, key=lambda name: labels[name][1]) == layout.run_name(steady)
    costs = np.round(dots.lines[0].get_xdata().astype(float), 6)
    bars = dict(zip(costs, dots.lines[2][0].get_segments()))  # each setting's bar, by its mean cost
    assert len(bars[5.0]) == 0  # one seed: no bar
    (_, low), (_, high) = bars[30.1]
    steady_ci = compare.grouped(df, ["group"], "test_accuracy", "maximize").set_index("group")["ci95"][steady]
    assert (high - low) / 2 == pytest.approx(steady_ci)  # the t-based 95% interval, as compare's table
    assert ax.get_xlabel().startswith("train_seconds") and "in %" in ax.get_ylabel()


def test_pareto_labels_do_not_overlap():
    """Ten settings of the front within a few pixels of each other (an eleventh, far off, sets the scale):
    names put beside each point, as the numbers were, would pile up."""
    groups = [f"hidden={16 * (i + 1)},dropout=0.{i}" for i in range(10)] + ["hidden=1024,dropout=0.5"]
    df = _results({g: [0.95 + 0.0004 * i] for i, g in enumerate(groups[:-1])} | {groups[-1]: [0.99]},
                  {g: 10 + 0.05 * i for i, g in enumerate(groups[:-1])} | {groups[-1]: 60.0})
    fig = plots.pareto_plot(df, "test_accuracy", "maximize")
    texts = fig.axes[0].texts
    assert sorted(t.get_text() for t in texts) == sorted(layout.run_name(g) for g in groups)
    fig.draw_without_rendering()  # as saved: the layout is the one the labels were placed in
    assert _disjoint(_boxes(texts))


def test_the_mean_per_value_is_over_settings_not_trials():
    # hidden=64: one setting raced to 5 seeds at 97%, one at 95% with 1 seed: over trials 96.67, over settings 96.
    df = _results({"hidden=64,lr=0.001": [0.97] * 5, "hidden=64,lr=0.01": [0.95],
                   "hidden=32,lr=0.001": [0.96, 0.96], "hidden=32,lr=0.01": [0.94, 0.94]},
                  **{"model.hidden": {"hidden=64,lr=0.001": 64, "hidden=64,lr=0.01": 64,
                                      "hidden=32,lr=0.001": 32, "hidden=32,lr=0.01": 32}})
    ax = plots.metric_vs_param(df, "model.hidden", "test_accuracy").axes[0]
    line, = [line for line in ax.lines if len(line.get_xdata()) > 1]
    assert list(line.get_xdata()) == [32, 64] and list(line.get_ydata()) == pytest.approx([0.95, 0.96])
    assert df.groupby("model.hidden")["test_accuracy"].mean()[64] == pytest.approx(0.9667, abs=1e-4)  # not that
    names = [t.get_text() for t in ax.texts]  # every nudged dot says which setting it is
    assert sorted(names) == sorted(layout.run_name(g) for g in df["group"].unique())
    ax.figure.draw_without_rendering()
    assert _disjoint(_boxes(ax.texts))


def test_a_crowded_value_names_its_best_settings():
    groups = {f"lr=0.001,dropout=0.{i:02d}": 0.95 + 0.001 * i for i in range(15)}
    df = _results({g: [v, v + 0.001] for g, v in groups.items()}, **{"train.lr": dict.fromkeys(groups, 0.001)})
    df = pd.concat([df, _results({"lr=0.01": [0.9]}, **{"train.lr": {"lr=0.01": 0.01}})])
    ax = plots.metric_vs_param(df, "train.lr", "test_accuracy").axes[0]
    best = sorted(groups, key=groups.get, reverse=True)[:plots.MOST_NAMED]
    assert sorted(t.get_text() for t in ax.texts) == sorted(layout.run_name(g) for g in best)
    assert f"the best {plots.MOST_NAMED} of 16 settings named" in ax.get_title()


def test_tick_labels_have_the_decimals_their_spacing_needs():
    from matplotlib.ticker import MaxNLocator

    from harness.analysis.ticks import SpacedTicks, tick_decimals

    assert tick_decimals([96.75, 97.0, 97.25, 97.5]) == 2  # not 96.8, 97.0, 97.2, 97.5
    assert tick_decimals([96, 97, 98]) == 0 and tick_decimals([0.5, 1.0, 1.5]) == 1
    assert tick_decimals([0.9675 * 100, 0.97 * 100]) == 2  # float noise of the scaling is no decimal
    percent = SpacedTicks(100)
    assert percent.format_ticks([0.9675, 0.97, 0.9725, 0.975]) == ["96.75", "97.00", "97.25", "97.50"]
    for lo, hi in [(0.9668, 0.9752), (0.95, 0.99), (0.5, 1.0), (0.97001, 0.97019), (0.9, 0.9001)]:
        ticks = MaxNLocator().tick_values(lo, hi)
        texts = percent.format_ticks(ticks)
        assert len(set(texts)) == len(texts), texts  # neighbours never print alike...
        assert [float(t) for t in texts] == pytest.approx(100 * ticks, abs=1e-9), texts  # ...nor rounded wrong


def test_search_progress_is_in_percent():
    df = pd.DataFrame({"trial_id": list("abcd"), "group": list("abcd"), "status": ["ok", "ok", "pruned", "ok"],
                       "ended": [1, 2, 3, 4], "best_val_accuracy": [0.9612, 0.9687, 0.5, 0.9731],
                       "train_seconds": [3.0, 4.0, 1.0, 5.0], "epochs_run": [2, 2, 1, 2]})
    fig = search_plots.progress_plot(df, "best_val_accuracy", "maximize")
    fig.draw_without_rendering()
    ax = fig.axes[0]
    assert ax.get_ylabel() == "best_val_accuracy in % (best so far)"
    texts = [t.get_text() for t in ax.get_yticklabels()]
    assert [float(t) for t in texts] == pytest.approx(100 * ax.get_yticks())  # percent, not fractions
    assert len(set(texts)) == len(texts) and any(96 <= float(t) <= 98 for t in texts)


def test_the_cost_axis_prefers_cost_seconds():
    df = _results({"hidden=16": [0.9, 0.91], "hidden=32": [0.95]})
    assert plots.cost_axis(df) == "train_seconds"
    assert plots.cost_axis(df.assign(cost_seconds=np.nan)) == "train_seconds"  # the column, but no numbers
    costed = df.assign(cost_seconds=[3.0, 5.0, 8.0])
    assert plots.cost_axis(costed) == "cost_seconds"
    ax = plots.pareto_plot(costed, "test_accuracy", "maximize", plots.cost_axis(costed)).axes[0]
    assert ax.get_xlabel().startswith("cost_seconds")
    assert sorted(np.asarray(ax.collections[-1].get_offsets())[:, 0]) == [4.0, 8.0]  # each setting's mean cost
    assert plots.pareto_plot(df, "train_seconds", "minimize").axes[0].texts  # the cost as the metric too
