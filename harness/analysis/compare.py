"""`python -m harness compare`: which setting is better, by how much, at what cost.

Reads one or more sweeps' results.csv and prints a ranking, per-group
statistics across repeats (mean, std, 95% confidence interval, best, cost),
a pivot over two parameters, or two sweeps side by side; and, when the top
two groups have repeats, whether the leader's advantage is statistically
significant (Welch's t-test) or within noise.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from harness.record import OK, PRUNED
from harness.analysis import display
from harness.analysis.results import RESULT_COLUMNS, param_columns
from harness.config.space import Metric
from harness.config.schema import read_yaml
from harness.files import os_problem, read_json
from harness.layout import CONFIRM, PLOTS, RESULTS, SWEEP_CONFIG
from harness.metrics import goal_of

EPILOG = """\
examples:
  python -m harness compare runs/quick                      # ranking, or groups if there are repeats
  python -m harness compare runs/quick --group-by hidden dropout
  python -m harness compare runs/quick --pivot hidden lr
  python -m harness compare runs/quick --where hidden=128 --where "dropout<0.5"
  python -m harness compare runs/quick runs/quick-v2       # two sweeps side by side, with the difference
  python -m harness compare runs/quick --format markdown > results.md

Parameter names may be shortened to their last part (dropout for model.dropout).
Exit status: 0, 1 when no trial finished ok (the failures are listed), 2 for bad arguments or files.
"""
FILTER = re.compile(r"^\s*([\w.]+)\s*(<=|>=|!=|=|<|>)\s*(.+?)\s*$")


REQUIRED = ["trial_id", "group", "status"]
COST = ["test_accuracy", "params", "epochs_run"]  # shown beside a group's metric, and display.seconds_column


def load(path: str | Path) -> pd.DataFrame:
    """A sweep's results, from its directory or its results.csv; ValueError naming a damaged file."""
    path = Path(path)
    csv = path / RESULTS if path.is_dir() else path
    if not csv.exists():
        raise FileNotFoundError(f"no results at {csv} (run the sweep first)")
    try:
        df = pd.read_csv(csv)
    except (OSError, ValueError) as e:  # pandas parser errors and UnicodeDecodeError are ValueErrors
        first_line = (str(e).strip() + "\n").split("\n")[0]
        why = (e.strerror if isinstance(e, OSError) else None) or first_line or type(e).__name__
        raise ValueError(f"{csv}: not a readable results table ({why}); the sweep command rebuilds it") from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"{csv}: not a results table (no column {', '.join(missing)}); the sweep command rebuilds it")
    df.insert(0, "sweep", csv.parent.name)
    if "dataset" not in df:  # a results.csv from before there were datasets: MNIST's
        df["dataset"] = "mnist"
    return df


DATASET_KEYS = ("dataset", "data.dataset")  # the record's column, the swept key


def one_dataset(df: pd.DataFrame, by: list[str]) -> None:
    """ValueError unless the trials ranked together trained on one dataset, or `by` groups them by it:
    89% is a fine Fashion-MNIST score and a poor MNIST one, so a table mixing them ranks nothing."""
    found = sorted(set(df.loc[df["status"] == OK, "dataset"].dropna())) if "dataset" in df else []
    if len(found) > 1 and not set(by) & set(DATASET_KEYS):
        raise ValueError(f"these trials trained on {len(found)} datasets ({', '.join(found)}): rank them apart with "
                         f"--group-by dataset, or one at a time with --where dataset={found[0]}")


def nothing_ok(df: pd.DataFrame, sources: list[str], filtered: bool) -> str | None:
    """Why there is nothing to compare (no trial finished ok), listing the failures; None if something is."""
    if (df["status"] == OK).any():
        return None
    where = ", ".join(sources)
    if df.empty:
        return f"no trials {'match the --where filters' if filtered else 'in the results'} of {where}"
    counts = ", ".join(f"{n} {s}" for s, n in df["status"].value_counts().items())
    lines = [f"no trial finished ok in {where} ({counts}):"]
    for row in df.itertuples(index=False):
        error = getattr(row, "error", None)
        lines.append(f"  {row.trial_id}: {row.status}" + (f": {error}" if isinstance(error, str) and error else ""))
    return "\n".join(lines)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a whole number of rows, at least 1")
    return value


def column(df: pd.DataFrame, name: str) -> str:
    """`name` as a column of `df`: exact, or the one swept parameter ending in `.name`."""
    if name in df.columns:
        return name
    hits = [c for c in df.columns if c.endswith("." + name)]
    if len(hits) == 1:
        return hits[0]
    known = ", ".join(param_columns(df.drop(columns="sweep")) + ["test_accuracy", "cost_seconds", "..."])
    raise KeyError(f"{name!r} is {'ambiguous: ' + ', '.join(hits) if hits else 'not a column'} (columns: {known})")


def _typed(text: str, series: pd.Series):
    if pd.api.types.is_numeric_dtype(series):
        return float(text)
    return text


def apply_filters(df: pd.DataFrame, exprs: list[str]) -> pd.DataFrame:
    """Keep rows matching every `key OP value` (OP: = != < <= > >=)."""
    ops = {"=": "__eq__", "!=": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}
    for expr in exprs:
        m = FILTER.match(expr)
        if not m:
            raise ValueError(f"filter {expr!r}: expected KEY OP VALUE, OP one of = != < <= > >=")
        col = column(df, m[1])
        df = df[getattr(df[col], ops[m[2]])(_typed(m[3], df[col]))]
    return df


def ranked(df: pd.DataFrame, metric: str, goal: str, top: int | None = None) -> pd.DataFrame:
    """Trials best first (unfinished and failed ones last, pruned ones left out), with their settings,
    the test accuracy of each (what a choice on `metric` would report) and cost."""
    df = df[df["status"] != PRUNED]
    params = param_columns(df.drop(columns="sweep", errors="ignore"))
    ident = params + (["repeat"] if df["repeat"].fillna(0).max() > 0 else []) if params else ["trial_id"]
    keep = [*ident, "status", metric, "test_accuracy", "best_val_accuracy", "epochs_run", display.seconds_column(df),
            "params"]
    keep = list(dict.fromkeys(c for c in keep if c in df.columns))
    out = df.sort_values(metric, ascending=goal == "minimize", na_position="last")[keep]
    return out.head(top) if top else out


def _ci95(std: float, n: int) -> float:
    from scipy import stats  # imported here: it takes a second, and a sweep's closing ranking needs none of it

    return float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else float("nan")


def grouped(df: pd.DataFrame, by: list[str], metric: str, goal: str) -> pd.DataFrame:
    """Per group of `by`: count, mean, std, 95% CI half-width, best, then the per-trial means of
    test accuracy, parameters, epochs and seconds (where the table has them); best group first."""
    ok = df[df["status"] == OK]
    cost = [c for c in [*COST, display.seconds_column(df)] if c in df.columns and c != metric]
    rows = []
    for key, g in ok.groupby(by, dropna=False, sort=False):
        vals = g[metric].dropna()
        n, std = len(vals), float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))), "n": n,
                     "mean": vals.mean(), "std": std, "ci95": _ci95(std, n),
                     "best": vals.max() if goal == "maximize" else vals.min(),
                     **{c: pd.to_numeric(g[c], errors="coerce").mean() for c in cost}})
    out = pd.DataFrame(rows, columns=[*by, "n", "mean", "std", "ci95", "best", *cost])
    return out.sort_values("mean", ascending=goal == "minimize").reset_index(drop=True)


def pivot(df: pd.DataFrame, row: str, col: str, metric: str) -> pd.DataFrame:
    """Mean of `metric` over finished trials, `row` values down, `col` values across."""
    return df[df["status"] == OK].pivot_table(index=row, columns=col, values=metric, aggfunc="mean")


def _key_text(value):
    """A parameter value as the text every sweep agrees on: 16, 16.0 and "16" are all "16"."""
    if pd.isna(value) or isinstance(value, (bool, np.bool_)):
        return value if pd.isna(value) else str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else repr(number)


def align_keys(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """The sweeps with each swept parameter of one kind across all of them.

    CSV types a column by its values: `model.hidden` is numeric in a sweep of
    16 and 32 and text in one of 16 and "512,256", and 16 != "16". A parameter
    numeric in every sweep stays numeric; otherwise its values become text,
    numbers written the same way in every sweep, so equal settings meet.
    """
    params = dict.fromkeys(c for f in frames for c in param_columns(f.drop(columns="sweep", errors="ignore")))
    out = [f.copy() for f in frames]
    for c in params:
        having = [f for f in out if c in f.columns]
        if len(having) > 1 and not all(pd.api.types.is_numeric_dtype(f[c]) for f in having):
            for f in having:
                f[c] = f[c].map(_key_text).astype(object)
    return out


def numeric_metric(frames: list[pd.DataFrame], metric: str) -> list[pd.DataFrame]:
    """The sweeps with `metric` as numbers; ValueError naming it when a sweep lacks it or holds
    text in it (`started`, `status`: nothing to average or rank by)."""
    out = []
    for f in frames:
        given = f[metric] if metric in f.columns else pd.Series(dtype=object)
        values = pd.to_numeric(given, errors="coerce")
        text = given[values.isna() & given.notna()]
        if metric not in f.columns or len(text) or pd.api.types.is_bool_dtype(given):
            numeric = [c for c in RESULT_COLUMNS if c in f.columns and c not in ("repeat", "seed")
                       and pd.api.types.is_numeric_dtype(f[c]) and not pd.api.types.is_bool_dtype(f[c])]
            why = (f"not a column of {f['sweep'].iloc[0]}" if metric not in f.columns else
                   f"not numeric (values such as {text.iloc[0]!r})" if len(text) else "true/false, not a number")
            raise ValueError(f"--metric {metric}: {why}; a metric must be a numeric column: {', '.join(numeric)}")
        out.append(f.assign(**{metric: values}))
    return out


def side_by_side(a: pd.DataFrame, b: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Two sweeps aligned on their common swept parameters: mean metric of each and b - a."""
    keys = [c for c in param_columns(a.drop(columns="sweep")) if c in b.columns]
    if not keys:
        raise KeyError("the two sweeps share no swept parameter to align on")
    a, b = align_keys([a, b])
    name_a, name_b = a["sweep"].iloc[0], b["sweep"].iloc[0]
    if name_a == name_b:
        name_a, name_b = f"{name_a} (1)", f"{name_b} (2)"
    mean = lambda d: d[d["status"] == OK].groupby(keys, dropna=False)[metric].mean()  # noqa: E731
    out = pd.concat({name_a: mean(a), name_b: mean(b)}, axis=1)
    out["difference"] = out[name_b] - out[name_a]
    return out.reset_index()


def verdict(df: pd.DataFrame, by: list[str], metric: str, goal: str, sweep: Path, alpha: float = 0.05) -> str | None:
    """Whether the best group beats the runner-up beyond noise (Welch's t-test), or None
    when the top two groups do not both have repeats. (Once the sweep has raced, the race answers instead.)"""
    table = grouped(df, by, metric, goal)
    if len(table) < 2 or table["n"].iloc[:2].min() < 2:
        return None
    ok = df[df["status"] == OK]
    names = display.short_names(by)
    differ = [k for k in by if table[k].iloc[0] != table[k].iloc[1]] or by
    name = lambda i: ", ".join(f"{names[k]}={display._cell(table[k].iloc[i])}" for k in differ)  # noqa: E731
    same = ", ".join(f"{names[k]}={display._cell(table[k].iloc[0])}" for k in by if k not in differ)
    sample = lambda i: ok[(ok[by] == table[by].iloc[i]).all(axis=1)][metric].dropna()  # noqa: E731
    a, b = sample(0), sample(1)
    gap = abs(a.mean() - b.mean())
    shown = f"{100 * gap:.2f} points of {metric}" if display.percent(metric) else f"{gap:.4g} in {metric}"
    head = f"Verdict: the leader ({name(0)}) beats the runner-up ({name(1)}) by {shown}" + (
        f", both with {same}" if same else "")
    if a.std() == 0 and b.std() == 0:
        return f"{head}; they scored identically in every repeat: no noise to test against."
    import warnings

    from scipy import stats

    with warnings.catch_warnings():  # nearly equal samples: SciPy's "Precision loss occurred" is not the reader's
        warnings.simplefilter("ignore", RuntimeWarning)
        t, p = stats.ttest_ind(a, b, equal_var=False)
    test = f"Welch's t-test p = {p:.2g}, {len(a)} and {len(b)} repeats"
    if p < alpha:
        return f"{head}: significant at the {alpha:.0%} level ({test})."
    where = sweep.parent if sweep.suffix == ".csv" else sweep
    return (f"{head}: within noise at the {alpha:.0%} level ({test}); more repeats would tell "
            f"(python -m harness confirm {where} races the top settings until they do).")


def confirmed(sweep: Path) -> str | None:
    """The race's answer (runs/E/confirm.json, written by sweep.confirm or `python -m harness confirm`), the
    block the sweep ended with; None when the sweep has none. A damaged file is said, never fatal: the tables
    above still hold."""
    from harness.racing.verdict import block

    path = (sweep if sweep.is_dir() else sweep.parent) / CONFIRM
    if not path.exists():
        return None
    try:
        data = read_json(path)
        if stale(data, path.parent):
            return (f"Race: {path} is from an earlier plan of this sweep (its settings changed since); "
                    f"`python -m harness confirm {path.parent}` races the top settings again.")
        return block(data, path.parent.name, display.width())
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        why = str(e).removeprefix(f"{path}: ") if isinstance(e, ValueError) and str(path) in str(e) else type(e).__name__
        return f"Race: {path} cannot be read ({why}); `python -m harness confirm {path.parent}` rewrites it."


def stale(data: dict, sweep: Path) -> bool:
    """The race saw other settings than the sweep's results now hold (a setting added or removed since)."""
    seen = data.get("search_settings")
    if seen is None:  # a verdict written before it said what it saw
        return False
    try:
        now = set(pd.read_csv(sweep / RESULTS, usecols=["group"])["group"])
    except (OSError, ValueError):
        return False
    return now != set(seen)


def render(df: pd.DataFrame, fmt: str) -> str:
    """An aligned terminal table, Markdown, or CSV."""
    if fmt == "csv":
        return df.to_csv(index=False).rstrip("\n")
    shown = df.copy()
    for c in shown.columns:
        if pd.api.types.is_float_dtype(shown[c]):
            shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.4g}")
    shown = shown.astype(object).where(shown.notna(), "").astype(str)
    if fmt == "markdown":
        lines = ["| " + " | ".join(map(str, shown.columns)) + " |", "|" + "---|" * len(shown.columns)]
        lines += ["| " + " | ".join(row) + " |" for row in shown.itertuples(index=False)]
        return "\n".join(lines)
    return display.aligned(shown)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m harness compare", description=__doc__.split("\n\n")[0],
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweeps", nargs="+", help="sweep directories (runs/NAME) or results.csv files; two = side by side")
    p.add_argument("--metric", help="column to rank and aggregate (default: the sweep's metric, best_val_accuracy "
                   "unless its config says otherwise)")
    p.add_argument("--importance", action="store_true",
                   help="which swept parameters mattered for the metric (Optuna), as a table and plots/importance_METRIC.png")
    p.add_argument("--goal", choices=["maximize", "minimize"], help="default: minimize for loss/seconds, else maximize")
    p.add_argument("--top", type=_positive, help="show only the best N rows (N >= 1)")
    p.add_argument("--sort", help="rank trials by this column instead of the metric")
    p.add_argument("--group-by", nargs="+", metavar="PARAM", help="aggregate repeats over these parameters")
    p.add_argument("--pivot", nargs=2, metavar=("ROW", "COL"), help="mean metric over two parameters")
    p.add_argument("--where", action="append", default=[], metavar="EXPR", help="filter, e.g. optimizer=adam or 'dropout<0.5'")
    p.add_argument("--format", choices=["table", "markdown", "csv"], default="table")
    return p.parse_args(argv)


def metric_of(sweep: Path) -> tuple[str, str]:
    """The metric and goal a sweep ranks on (its sweep.yaml); validation accuracy when it does not say."""
    default = Metric()
    path = (sweep if sweep.is_dir() else sweep.parent) / SWEEP_CONFIG
    try:
        metric = read_yaml(path)["sweep"]["metric"]
        return str(metric["name"]), str(metric["goal"])
    except FileNotFoundError:  # a sweep of an older version, or a results.csv on its own
        return default.name, default.goal
    except (OSError, ValueError, TypeError, KeyError) as e:  # ValueError: ConfigError, the file's damage
        why = (os_problem(e) if isinstance(e, OSError) else str(e).split("\n")[0]
               if isinstance(e, ValueError) else f"{path}: no sweep.metric in it")
        print(f"warning: {why}; using {default.name} ({default.goal})", file=sys.stderr)
        return default.name, default.goal


def show_importance(df: pd.DataFrame, metric: str, goal: str, sweep: Path, fmt: str) -> int:
    from harness.analysis.curves import save_figure
    from harness.analysis.importance import importance_plot, importances

    table = importances(df, metric, goal)
    print(render(table, fmt))
    if sweep.is_dir():
        try:
            path = save_figure(importance_plot(table, metric), sweep / PLOTS / f"importance_{metric}.png")
        except OSError as e:  # a read-only or full disk: the table above is the answer, the picture is extra
            print(f"note: no importance plot: {os_problem(e)}", file=sys.stderr)
            return 0
        if fmt != "csv":
            print(f"\nplot: {path}")
    return 0


def _show(raw: pd.DataFrame, shown: pd.DataFrame, header: str, fmt: str, df: pd.DataFrame | None = None) -> int:
    """CSV: the raw numbers alone. Table and Markdown: what the numbers are, the table, what was left out."""
    if fmt == "csv":
        print(render(raw, "csv"))
        return 0
    print(header + "\n\n" + render(shown, fmt))
    if df is not None:
        print("\n" + display.footer(df))
    return 0


def raced(args: argparse.Namespace, metric: str, raced_on: str) -> str | None:
    """The race's block, where it answers the question asked: the metric it raced on, unfiltered, as a table."""
    if args.format == "csv" or args.where or metric != raced_on:
        return None
    return confirmed(Path(args.sweeps[0]))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sweep_metric, sweep_goal = metric_of(Path(args.sweeps[0]))
    goal = args.goal or (goal_of(args.metric) if args.metric else sweep_goal)
    args.metric = args.metric or sweep_metric
    try:
        frames = [apply_filters(load(s), args.where) for s in args.sweeps]
        for source, frame in zip(args.sweeps, frames):
            if why := nothing_ok(frame, [source], bool(args.where)):
                print(f"error: {why}", file=sys.stderr)
                return 1
        metric = column(frames[0], args.metric)
        frames = numeric_metric(align_keys(frames), metric)
        if len(frames) == 2:
            if len(seen := {tuple(sorted(set(f["dataset"]))) for f in frames}) > 1:
                raise ValueError(f"{args.sweeps[0]} and {args.sweeps[1]} trained on other datasets "
                                 f"({' and '.join(', '.join(s) for s in sorted(seen))}): a difference between "
                                 "them says nothing; compare each on its own")
            diff = side_by_side(*frames, metric)
            header = display.diff_header(diff, metric, goal, *map(Path, args.sweeps))
            return _show(diff, display.diff_table(diff, metric), header, args.format)
        df = pd.concat(frames, ignore_index=True)
        params = param_columns(df.drop(columns="sweep"))
        if args.importance:
            one_dataset(df, params)
            return show_importance(df, metric, goal, Path(args.sweeps[0]), args.format)
        if args.pivot:
            row, col = column(df, args.pivot[0]), column(df, args.pivot[1])
            one_dataset(df, [row, col])
            out = pivot(df, row, col, metric)
            return _show(out.reset_index(), display.pivot_table(out, metric),
                         display.pivot_header(metric, goal, row, col), args.format, df)
        by = [column(df, b) for b in args.group_by] if args.group_by else None
        if by is None and not args.sort and df.groupby("group").size().max() > 1:
            by = params or ["group"]
        one_dataset(df, by or [])
        if by:
            every = grouped(df, by, metric, goal)
            table = every.head(args.top or None)
            _show(table, display.groups_table(table, by, metric),
                  display.groups_header(table, metric, goal, len(every)), args.format, df)
            race = raced(args, metric, sweep_metric)
            across = df["dataset"].nunique() > 1  # grouped by dataset: no verdict weighs one against the other
            note = race or (None if across else verdict(df, by, metric, goal, Path(args.sweeps[0])))
            if note and args.format != "csv":
                print("\n" + (note if race else display.wrap(note)))
        else:
            sort = column(df, args.sort) if args.sort else metric
            sort_goal = goal_of(sort) if args.sort else goal
            table = ranked(df, sort, sort_goal, args.top)
            _show(table, display.ranking_table(table, sort), display.ranking_header(sort, sort_goal, table), args.format, df)
            if race := raced(args, metric, sweep_metric):
                print("\n" + race)
    except (FileNotFoundError, KeyError, ValueError) as e:
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    return 0
