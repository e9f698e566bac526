"""`python -m harness plot runs/NAME`: the sweep's results as pictures (matplotlib).

Per trial: learning curves (train and validation loss and accuracy against the
optimizer step), `curves.png` and `curves.svg` in the trial's directory. Per
sweep, in `runs/NAME/plots/`: the metric against each swept parameter
(`<metric>_vs_<param>.png`) and against cost with the Pareto front marked
(`pareto.png`), both by setting: the mean over its seeds with its 95% interval,
as compare and the race rank settings, so that a lucky seed does not pass for
the best setting. The metric is the sweep's own unless told otherwise.
Only trials with status ok are plotted.

The functions here take DataFrames and write files; `write_sweep_plots` does
everything for one sweep directory. Sweeps draw nothing: drawing is done on
demand, by this command, so that no sweep waits for pictures nobody asked for.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from harness.analysis.compare import grouped, load, metric_of
from harness.analysis.curves import curves_current, new_figure, save_figure, write_trial_curves
from harness.analysis.display import number, seconds_column
from harness.analysis.search_plots import write_search_plots
from harness.record import OK
from harness.analysis.results import load_records, param_columns, table
from harness.files import os_problem
from harness.layout import CURVES, HISTORY, PLOTS, RESULTS, run_name
from harness.metrics import goal_of, percent

PARETO_NAME = "pareto.png"
MOST_NAMED = 12  # settings named in a metric-vs-parameter plot

EPILOG = """\
examples:
  python -m harness plot runs/quick                       # curves per trial, plots in runs/quick/plots/
  python -m harness plot runs/quick --metric test_accuracy
  python -m harness plot runs/quick --metric test_loss    # goal defaults to minimize for losses
  python -m harness plot runs/quick --out /tmp/quick-plots --no-curves

files written (only trials with status ok are plotted):
  runs/NAME/TRIAL/curves.png, curves.svg     train and validation loss and accuracy against step
  runs/NAME/plots/METRIC_vs_PARAM.png        the metric against each swept parameter: each setting, named,
                                             as the mean over its seeds with its 95% interval; the mean
                                             per value over its settings (not its trials)
  runs/NAME/plots/pareto.png                 settings' mean metric against mean cost_seconds (train_seconds
                                             in older tables); the Pareto front of settings named and listed
                                             (pareto_METRIC.png for a --metric other than the sweep's)
  runs/NAME/plots/search_progress.png        the best metric so far against trials and training time
  runs/NAME/plots/validation_curves.png      every trial's validation accuracy by epoch, one colour per
                                             setting, the best five named
Parameters with a single value among the ok trials get no plot; the Pareto plot needs two settings.
Accuracies are in %.
Sweeps draw none of these (drawing costs 0.3 s a trial and 0.5 s a sweep): run this command when you want them.
"""


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "param"


# ----------------------------------------------------------------------------- metric vs a parameter


def _numbers(text: str) -> tuple[float, ...] | None:
    """'512,256' -> (512.0, 256.0); None if any part is not a number."""
    try:
        return tuple(float(p) for p in str(text).split(","))
    except ValueError:
        return None


def param_kind(values: pd.Series) -> str:
    """'numeric' (a number axis), or 'categorical' (strings, booleans, layer lists like '512,256')."""
    v = values.dropna()
    if len(v) and pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v):
        return "numeric"
    return "categorical"


def category_order(values: pd.Series) -> list:
    """Distinct values in a sensible order: by their numbers when all are numbers or number lists
    (so '64' < '128' < '128,64' < '512'), else in order of first appearance (= the config's order)."""
    distinct = list(dict.fromkeys(values.dropna().tolist()))
    parsed = [_numbers(v) for v in distinct]
    if all(p is not None for p in parsed):
        return [v for _, v in sorted(zip(parsed, distinct))]
    return distinct


def _log_axis(x: np.ndarray) -> bool:
    """Log scale for positive values spanning more than a decade (learning rates, widths)."""
    return len(x) > 0 and bool((x > 0).all()) and x.max() / x.min() > 10


def setting_means(df: pd.DataFrame, metric: str, goal: str = "maximize", also: tuple[str, ...] = (),
                  cost: str | None = None) -> pd.DataFrame:
    """One row per setting (the `group` column: its trials differ only in seed), best first, as compare
    ranks settings and the race names them: compare.grouped's n, mean and 95% interval (ci95, Student's t;
    NaN for one seed) of the ok trials' `metric`, the mean `cost`, and `name`, the setting's run name.
    `also`: columns constant within a setting to keep (the parameter a plot is drawn against)."""
    d = df.assign(group=df["group"].fillna(df["trial_id"]).astype(str))
    out = grouped(d, ["group", *also], metric, goal)
    if cost is not None and cost not in out:  # not among compare's costs (or the metric itself)
        ok = d[d["status"] == OK]
        out[cost] = out["group"].map(pd.to_numeric(ok[cost], errors="coerce").groupby(ok["group"]).mean())
    out["name"] = out["group"].map(run_name)
    return out


def metric_vs_param(df: pd.DataFrame, param: str, metric: str = "test_accuracy", goal: str = "maximize",
                    title: str = "") -> Figure:
    """`metric` against `param`: each setting (`setting_means`) as the mean over its seeds with its 95%
    interval, named, the settings of one value side by side; the mean per value (the mean of its settings'
    means, so a setting raced to more seeds counts once, as in the verdict) as a line where every value
    has several settings."""
    from harness.analysis.ticks import metric_axis, place_labels

    d = df.copy()
    d[metric] = pd.to_numeric(d[metric], errors="coerce")
    d = d[d[metric].notna()]
    kind = param_kind(d[param])
    fig = new_figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    if kind == "numeric":
        d = d[d[param].notna()]
        values = np.sort(d[param].unique().astype(float))
        log = _log_axis(values)
        where = {v: v for v in values}
    else:
        d[param] = d[param].where(d[param].notna(), "(unset)")
        values = category_order(d[param])
        log = False
        where = {v: float(i) for i, v in enumerate(values)}
    settings = setting_means(d, metric, goal, also=(param,))
    x_of = {}
    for value, part in settings.groupby(param, sort=False):
        k = len(part)
        for j, row in enumerate(part.itertuples()):
            off = (j - (k - 1) / 2) * min(0.5 / k, 0.12)
            x = where[value] * (1 + off) if log else where[value] + off * (1 if kind != "numeric" else _span(values))
            ax.errorbar([x], [row.mean], yerr=[row.ci95], fmt="o", ms=5, color="tab:blue",
                        ecolor="tab:blue", elinewidth=1.2, capsize=3, alpha=0.85)
            x_of[row.Index] = x
    per_value = settings.groupby(param)["mean"].agg(["mean", "size"])
    if kind != "numeric":
        per_value = per_value.reindex(values)
    if (per_value["size"] > 1).all() and len(per_value) > 1:
        ax.plot([where[v] for v in per_value.index], per_value["mean"], color="tab:red", marker="D", ms=6, lw=2,
                alpha=0.7, label="mean per value: the mean of its settings' means")
    named = settings.head(MOST_NAMED)  # best first: more names than these would stand far from their dots
    ax.errorbar([], [], yerr=[], fmt="o", color="tab:blue", capsize=3,
                label=f"a setting: mean over its seeds, bar: 95% interval, none for one seed ({len(d)} trials)")
    if kind == "numeric":
        if log:
            ax.set_xscale("log")
        if len(values) <= 10:
            ax.set_xticks(values)
            ax.set_xticklabels([f"{v:g}" for v in values])
            ax.xaxis.set_minor_formatter("")  # the values' ticks only, no 2x10^-3 clutter on log axes
        ax.set_xlim(*_pad(values, log))
    else:
        long = sum(len(str(v)) for v in values) > 60
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels([str(v) for v in values], rotation=30 if long else 0, ha="right" if long else "center")
        ax.set_xlim(-0.5, len(values) - 0.5)
    metric_axis(ax.yaxis, metric)
    ax.set_xlabel(param + (" (log scale)" if log else ""))
    ax.grid(True, alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=1, fontsize=9, frameon=False)
    best = "higher" if goal == "maximize" else "lower"
    some = f"; the best {len(named)} of {len(settings)} settings named" if len(named) < len(settings) else ""
    ax.set_title(title or f"{metric} vs {param} ({best} is better{some})", fontsize=10)
    place_labels(ax, [(x_of[i], m) for i, m in named["mean"].items()], named["name"], fontsize=7, color="dimgray")
    return fig


def _span(values: np.ndarray) -> float:
    return float(values.max() - values.min()) or 1.0


def _pad(x: np.ndarray, log: bool) -> tuple[float, float]:
    lo, hi = float(x.min()), float(x.max())
    if log:
        f = (hi / lo) ** 0.08 if hi > lo else 2.0
        return lo / f, hi * f
    span = hi - lo or max(abs(lo), 1.0)
    return lo - 0.08 * span, hi + 0.08 * span


# ---------------------------------------------------------------------------------------- Pareto front


def pareto_front(df: pd.DataFrame, metric: str = "test_accuracy", goal: str = "maximize",
                 cost: str = "train_seconds") -> pd.Series:
    """A boolean mask over `df`'s rows (settings, in `pareto_plot`): True for the rows no other row
    beats, i.e. none is at least as good on `metric` (by `goal`) and at least as cheap on `cost` (lower
    is better) while strictly better on one of them. Ties are all kept; rows missing either value are False."""
    m = pd.to_numeric(df[metric], errors="coerce").to_numpy(dtype=float)
    c = pd.to_numeric(df[cost], errors="coerce").to_numpy(dtype=float)
    if goal == "minimize":
        m = -m
    elif goal != "maximize":
        raise ValueError(f"goal {goal!r}: expected maximize or minimize")
    ok = np.isfinite(m) & np.isfinite(c)
    front = ok.copy()
    for i in np.flatnonzero(ok):
        others = ok.copy()
        others[i] = False
        beaten = others & (m >= m[i]) & (c <= c[i]) & ((m > m[i]) | (c < c[i]))
        front[i] = not beaten.any()
    return pd.Series(front, index=df.index, name="pareto")


cost_axis = seconds_column  # the cost the Pareto front is drawn against: the seconds compare shows


def pareto_plot(df: pd.DataFrame, metric: str = "test_accuracy", goal: str = "maximize",
                cost: str = "train_seconds", title: str = "") -> Figure:
    """The settings (`setting_means`: the mean over seeds, not a lucky seed, so the top point is the
    setting compare and the race rank first) by mean `metric` against mean `cost`, with their 95%
    intervals; the Pareto front of settings joined by a step line, its points named by their run names
    and listed below."""
    from harness.analysis.ticks import metric_axis, place_labels

    d = df.copy()
    d[metric] = pd.to_numeric(d[metric], errors="coerce")
    d[cost] = pd.to_numeric(d[cost], errors="coerce")
    d = d[d[metric].notna() & d[cost].notna()]
    s = setting_means(d, metric, goal, cost=cost)
    front = pareto_front(s, "mean", goal, cost)
    f = s[front].sort_values(cost)
    fig = new_figure(figsize=(9, 6 + 0.16 * len(f)), layout="constrained")
    ax = fig.subplots()
    ax.errorbar(s[cost], s["mean"], yerr=s["ci95"], fmt="o", ms=6, color="tab:blue", ecolor="tab:blue",
                elinewidth=1, capsize=2, alpha=0.8)
    ax.scatter(f[cost], f["mean"], s=160, facecolors="none", edgecolors="black", lw=1.5, zorder=3)
    if len(f) > 1:
        ax.step(f[cost], f["mean"], where="post", color="black", lw=1, ls="--", zorder=2)
    better = "higher" if goal == "maximize" else "lower"
    ax.set_xlabel(f"{cost} ({'training time, ' if cost == 'train_seconds' else ''}mean over seeds, lower is better)")
    metric_axis(ax.yaxis, metric, f"mean over seeds, {better} is better")
    ax.grid(True, alpha=0.3)
    ax.set_title(title or f"{metric} vs {cost}: {len(s)} settings ({len(d)} trials)\n"
                 "a dot: a setting's mean over its seeds, its bar: the 95% interval (none for one seed)\n"
                 f"circled and named: the Pareto front of {len(f)} (no setting is both {better} and cheaper "
                 "on average)", fontsize=10)
    entries = [_front_entry(row, metric, cost) for _, row in f.iterrows()]
    if entries:
        fig.legend([_blank()] * len(entries), entries, loc="outside lower left", fontsize=8, frameon=False,
                   handlelength=0, handletextpad=0, title=f"Pareto front, cheapest first ({metric}"
                   f"{' in %' if percent(metric) else ''} ± 95% interval, {cost})", title_fontsize=8, alignment="left")
    place_labels(ax, list(zip(f[cost], f["mean"])), f["name"], fontsize=8, fontweight="bold")
    return fig


def _front_entry(row: pd.Series, metric: str, cost: str) -> str:
    """'h64,lr.003: 97.95 ± 0.20 (5 seeds), 12.3 s': a setting of the front as the list below the plot shows it."""
    interval = f" ± {number(metric, row['ci95'])}" if row["n"] > 1 else ""
    seeds = f"{row['n']} seed{'s' if row['n'] != 1 else ''}"
    return f"{_short(row['name'], 60)}: {number(metric, row['mean'])}{interval} ({seeds}), {row[cost]:.3g} s"


def _blank():
    from matplotlib.patches import Rectangle
    return Rectangle((0, 0), 0, 0, visible=False)


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# ------------------------------------------------------------------------------------- a whole sweep


def load_table(sweep_dir: Path, log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """The sweep's results: results.csv, or the table of its records when there is none yet (mid-sweep)
    or it is damaged (said to `log`)."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"no sweep directory {sweep_dir}")
    csv = sweep_dir / RESULTS
    if csv.exists() or csv.is_symlink():
        try:
            return load(csv).drop(columns="sweep")
        except (FileNotFoundError, ValueError) as e:
            (log or print)(f"{e.args[0] if e.args else e}; plotting from the trial records instead")
    records = load_records(sweep_dir)
    if not records:
        raise FileNotFoundError(f"no readable {RESULTS} and no trial records in {sweep_dir} (run the sweep first)")
    return table(records)


def write_sweep_plots(sweep_dir: Path, metric: str = "test_accuracy", goal: str = "maximize",
                      out: Path | None = None, curves: bool = True, force: bool = False,
                      log: Callable[[str], None] | None = None, search: tuple[str, str] | None = None,
                      tick: float = 5.0) -> list[Path]:
    """Every plot of one sweep; returns the files written.

    Per ok trial: TRIAL/curves.png and .svg. In `out` (default `sweep_dir/plots`):
    METRIC_vs_PARAM.png for each swept parameter with at least two values among the ok trials, and
    pareto.png (`pareto_name(metric)`) when at least two ok trials have the metric and a training time. With `out`
    given, the curves go to `out/TRIAL/` instead, so nothing is written into the sweep.
    Curves newer than their trial's history and record are kept, not redrawn (unless `force`),
    so a resumed sweep only draws its new trials; the sweep plots are always redrawn.
    `search` (the sweep's metric and goal) adds search_progress.png and validation_curves.png.
    What is skipped, and why, is passed to `log` (e.g. print), and how far the curves have got every
    `tick` seconds once they take that long. FileNotFoundError when
    `sweep_dir` is not a sweep; KeyError for an unknown metric.
    """
    say = log or (lambda _msg: None)
    sweep_dir = Path(sweep_dir)
    df = load_table(sweep_dir, say)
    if metric not in df.columns:
        raise KeyError(f"{metric!r} is not a column of the results (e.g. test_accuracy, best_val_accuracy, test_loss)")
    plots_dir = Path(out) if out is not None else sweep_dir / PLOTS
    ok = df[df["status"] == OK].reset_index(drop=True)
    written: list[Path] = write_search_plots(sweep_dir, df, *search, plots_dir) if search else []
    if ok.empty:
        say(f"{sweep_dir.name}: no trial finished ok ({len(df)} in the table): nothing to plot")
        return written

    if curves:
        missing, current = [], 0
        ticker = _Ticker(say, len(ok), "learning curves", tick)
        for tid in ok["trial_id"]:
            ticker()
            dest = None if out is None else plots_dir / tid
            if not force and curves_current(sweep_dir / tid, dest):
                current += 1
                continue
            try:
                files = write_trial_curves(sweep_dir / tid, dest)
            except ValueError as e:  # a damaged history: this trial's curves only are skipped
                say(f"{e}: no learning curves for {tid}")
                continue
            written += files
            if not files:
                missing.append(tid)
        if current:
            say(f"learning curves of {current} trial(s) already up to date, kept")
        if missing:
            say(f"no learning curves for {len(missing)} trial(s) without {HISTORY}: {', '.join(missing[:3])}"
                + (" ..." if len(missing) > 3 else ""))

    scored = ok[pd.to_numeric(ok[metric], errors="coerce").notna()]
    if scored.empty:
        say(f"no ok trial has a {metric}: no sweep plots")
        return written
    params = param_columns(df)
    if not params:
        say("nothing was swept: no metric-vs-parameter plots")
    for p in params:
        values = scored[p].dropna().unique()
        if len(values) < 2:
            say(f"{p}: {len(values)} value(s) among the ok trials: no {metric}_vs_{_safe(p)}.png")
            continue
        fig = metric_vs_param(scored, p, metric, goal)
        written.append(save_figure(fig, plots_dir / f"{_safe(metric)}_vs_{_safe(p)}.png"))

    cost = cost_axis(scored)
    timed = scored[pd.to_numeric(scored[cost], errors="coerce").notna()]
    pareto_path = plots_dir / pareto_name(metric, search[0] if search else "test_accuracy")
    if timed["group"].nunique() < 2:
        say(f"{timed['group'].nunique()} setting(s) with {metric} and {cost} among the ok trials: "
            f"no {pareto_path.name} (needs two)")
    else:
        written.append(save_figure(pareto_plot(timed, metric, goal, cost), pareto_path))
    # Plots of an earlier run that this one had no data for would now mislead: remove them.
    for stale in [*plots_dir.glob(f"{_safe(metric)}_vs_*.png"), pareto_path]:
        if stale not in written and stale.exists():
            stale.unlink()
            say(f"removed the outdated {stale}")
    return written


class _Ticker:
    """Says how far drawing `total` things has got, every `every` seconds once it has taken that long
    (learning curves of a big sweep take a while; silence would look like a hang)."""

    def __init__(self, say: Callable[[str], None], total: int, what: str, every: float):
        self.say, self.total, self.what, self.every = say, total, what, every
        self.done, self.next = 0, time.monotonic() + every

    def __call__(self) -> None:
        if time.monotonic() >= self.next:
            self.say(f"{self.what}: {self.done}/{self.total} trials drawn ...")
            self.next = time.monotonic() + self.every
        self.done += 1


def pareto_name(metric: str, own: str = "test_accuracy") -> str:
    """pareto.png for the sweep's `own` metric, pareto_METRIC.png for another."""
    return PARETO_NAME if metric == own else f"pareto_{_safe(metric)}.png"


# ------------------------------------------------------------------------------------------ command


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="python -m harness plot",
        description="Plot a sweep: learning curves per trial (train/validation loss and accuracy against\n"
        "step), the metric against each swept parameter, and the metric against training time with\n"
        "the Pareto front. Only trials with status ok are plotted.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep", type=Path, help="sweep directory (runs/NAME), as written by sweep.py")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="write everything here instead (curves in DIR/TRIAL/); default: RUN/plots/ and "
                   "each trial's directory")
    p.add_argument("--metric", help="results column to plot (default: the sweep's metric, best_val_accuracy unless "
                   "its config says otherwise; e.g. test_loss)")
    p.add_argument("--goal", choices=["maximize", "minimize"],
                   help="which way is better, for the Pareto front (default: minimize for loss/seconds, else maximize)")
    p.add_argument("--no-curves", action="store_true", help="skip the per-trial learning curves")
    p.add_argument("--force", action="store_true",
                   help="redraw every trial's curves, even those newer than the trial's history")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    search = metric_of(Path(args.sweep))
    metric = args.metric or search[0]
    goal = args.goal or (goal_of(metric) if args.metric else search[1])
    try:
        written = write_sweep_plots(args.sweep, metric, goal, args.out, curves=not args.no_curves,
                                    force=args.force, log=lambda msg: print(f"note: {msg}", flush=True),
                                    search=search)
    except (FileNotFoundError, KeyError) as e:
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    except OSError as e:  # a read-only or full disk: nothing more can be drawn there
        print(f"error: cannot write the plots: {os_problem(e)}" + ("; --out DIR writes them elsewhere"
              if args.out is None else ""), file=sys.stderr)
        return 2
    n_curves = sum(1 for p in written if p.name.startswith(CURVES + "."))
    sweep_files = [p for p in written if not p.name.startswith(CURVES + ".")]
    if n_curves:
        print(f"learning curves: {n_curves // 2} trial(s), {CURVES}.png and {CURVES}.svg in each "
              f"{'trial directory' if args.out is None else 'DIR/TRIAL'}")
    for p in sweep_files:
        print(f"wrote {p}")
    if not written:
        print("nothing written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
