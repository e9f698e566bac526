"""compare's tables as a person reads them: the metric named with its split, accuracies in percent
with a named interval, the cost beside them, 80 columns, and the verdict wrapped to the terminal.

The functions in compare.py compute (raw floats, as `--format csv` prints them); these only present.
"""

from __future__ import annotations

import math
import shutil
import textwrap

import pandas as pd

from harness.metrics import FINAL, percent
from harness.record import SECONDS, seconds_field

SPLIT = {"best_val_accuracy": "the validation split", "test_accuracy": "the test split", "test_loss": "the test split"}
SHORT = {"best_val_accuracy": "val acc", "test_accuracy": "test acc", "test_loss": "test loss",
         "train_seconds": "seconds", "cost_seconds": "seconds", "epochs_run": "epochs"}


def seconds_column(df: pd.DataFrame) -> str:
    """The column a table's "seconds" shows: cost_seconds (the same whichever group a trial trained in),
    or train_seconds in a results.csv from before it (record.seconds_field)."""
    return seconds_field(lambda name: name in df and df[name].notna().any())


def width() -> int:
    """The terminal's columns ($COLUMNS when set), 80 when output is not a terminal."""
    return shutil.get_terminal_size((80, 24)).columns


def wrap(text: str) -> str:
    return "\n".join(textwrap.fill(p, width(), break_on_hyphens=False) for p in text.split("\n"))


def describe(metric: str, goal: str) -> str:
    """'best validation accuracy (best_val_accuracy, on the validation split, %, higher is better)'."""
    m = FINAL.get(metric)
    parts = [metric] + ([f"on {SPLIT[metric]}"] if metric in SPLIT else []) + (["%"] if percent(metric) else [])
    better = "higher" if goal == "maximize" else "lower"
    return f"{m.display if m else metric} ({', '.join(parts)}, {better} is better)"


def number(metric: str, value) -> str:
    """One value of `metric` as shown: 97.95 for an accuracy of 0.9795, else 4 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return ""
    if percent(metric):
        return f"{100 * float(value):.2f}"
    if metric.endswith("seconds"):  # a small trial's cost_seconds is hundredths of a second
        return f"{float(value):.1f}" if abs(float(value)) >= 1 else f"{float(value):.2g}"
    if metric == "params":
        return _count(float(value))
    if isinstance(value, (int, float)):
        return f"{float(value):.4g}"
    return str(value)


def _count(n: float) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e4 else f"{n:.0f}"


def short_names(columns: list[str]) -> dict[str, str]:
    """Each parameter column by its last part (model.dropout -> dropout) where that is unambiguous."""
    last = [c.rsplit(".", 1)[-1] for c in columns]
    return {c: (s if last.count(s) == 1 else c) for c, s in zip(columns, last)}


def _cell(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer() and value != 0:  # 128.0 in a column with blanks
        return f"{value:g}"
    return str(value)


def groups_table(table: pd.DataFrame, by: list[str], metric: str) -> pd.DataFrame:
    """compare.grouped's table as shown: the settings, `metric` as mean ± 95% CI, test accuracy, cost."""
    names = short_names(by)
    out = pd.DataFrame({names[c]: table[c].map(_cell) for c in by})
    ci = table["ci95"].map(lambda v: "" if pd.isna(v) else f" ± {number(metric, v)}")
    out[SHORT.get(metric, metric)] = table["mean"].map(lambda v: number(metric, v)) + ci
    if table["n"].nunique() > 1:
        out["n"] = table["n"].astype(str)
    for col in ("test_accuracy", "params", "epochs_run", seconds_column(table)):
        if col in table and col != metric and table[col].notna().any():
            out[SHORT.get(col, col)] = table[col].map(lambda v, c=col: number(c, v) if c != "epochs_run" else _cell(v))
    return out


def ranking_table(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """compare.ranked's table as shown: settings (or trial ids), status when not all ok, metric, test accuracy, cost."""
    fixed = ["status", metric, "test_accuracy", "best_val_accuracy", "epochs_run", *SECONDS, "params"]
    ident = [c for c in table.columns if c not in fixed]
    names = short_names(ident)
    out = pd.DataFrame({names[c]: table[c].map(_cell) for c in ident})
    if "status" in table and (table["status"] != "ok").any():
        out["status"] = table["status"]
    for col in (metric, "test_accuracy", "params", "epochs_run", seconds_column(table)):
        if col in table and (col == metric or col not in out):
            out[SHORT.get(col, col)] = table[col].map(lambda v, c=col: number(c, v) if c != "epochs_run" else _cell(v))
    return out


def groups_header(table: pd.DataFrame, metric: str, goal: str, total: int | None = None) -> str:
    """What a groups table shows; `total`: the settings there are when the table shows only the best."""
    ns = sorted(set(table["n"]))
    count = f"the best {len(table)} of {total} settings" if total and total > len(table) else f"{len(table)} settings"
    repeats = f"{ns[0]} repeat{'s' if ns[0] != 1 else ''} each" if len(ns) == 1 else "n repeats (column n)"
    return wrap(f"{count[0].upper()}{count[1:]}, best first by {describe(metric, goal)}: mean ± 95% confidence "
                f"interval (Student's t) over {repeats}. Test acc, params, epochs, {_seconds(table)}: "
                "per-trial means.")


def ranking_header(metric: str, goal: str, table: pd.DataFrame) -> str:
    beside = "" if metric == "test_accuracy" else "; test accuracy % beside it"
    return wrap(f"Trials, best first by {describe(metric, goal)}{beside}; cost: params, epochs, {_seconds(table)}.")


def _seconds(table: pd.DataFrame) -> str:
    """What the seconds column holds, in words."""
    if seconds_column(table) == "cost_seconds":
        return "seconds (its steps, timed alone)"
    return "seconds of training"


def footer(df: pd.DataFrame) -> str:
    """'32 trials: 28 ok, 2 pruned, 2 failed (pruned and failed ones are not in the table)'."""
    counts = df["status"].value_counts()
    parts = [f"{counts.get('ok', 0)} ok"] + [f"{n} {s}" for s, n in counts.items() if s != "ok"]
    note = " (only ok trials are in the table)" if len(parts) > 1 else ""
    return wrap(f"{len(df)} trials: {', '.join(parts)}{note}.")


def aligned(df: pd.DataFrame) -> str:
    """Columns two spaces apart (one when two would not fit the terminal), numbers right-aligned, text left."""
    if df.empty:
        return "(no trials)"
    cells = df.astype(object).where(df.notna(), "").astype(str)
    right = {c: cells[c].str.match(r"^[-+]?[\d.,]+[kM%]?( ± [\d.]+)?$|^$").all() for c in cells.columns}
    widths = {c: max(len(str(c)), cells[c].str.len().max()) for c in cells.columns}
    pad = lambda c, v: v.rjust(widths[c]) if right[c] else v.ljust(widths[c])  # noqa: E731
    sep = "  " if sum(widths.values()) + 2 * (len(widths) - 1) <= width() else " "
    lines = [sep.join(pad(c, str(c)) for c in cells.columns)]
    lines += [sep.join(pad(c, v) for c, v in zip(cells.columns, row)) for row in cells.itertuples(index=False)]
    return "\n".join(line.rstrip() for line in lines)


def pivot_table(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """compare.pivot's table as shown: `metric` formatted, the row parameter as the first column."""
    out = table.apply(lambda col: col.map(lambda v: number(metric, v)))
    out.columns = [_cell(c) for c in out.columns]
    out.insert(0, short_names([table.index.name])[table.index.name], [_cell(v) for v in table.index])
    return out.reset_index(drop=True)


def pivot_header(metric: str, goal: str, row: str, col: str) -> str:
    names = short_names([row, col])
    return wrap(f"Mean {describe(metric, goal)} over the ok trials: {names[row]} down, {names[col]} across.")


def diff_table(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """compare.side_by_side's table as shown: settings, each sweep's mean and the difference."""
    *keys, a, b, _ = table.columns
    names = short_names(keys)
    out = pd.DataFrame({names[k]: table[k].map(_cell) for k in keys})
    for c in (a, b):
        out[c] = table[c].map(lambda v: number(metric, v))
    signed = lambda v: "" if pd.isna(v) else ("+" if v >= 0 else "") + number(metric, v)  # noqa: E731
    out["difference"] = table["difference"].map(signed)
    return out


def diff_header(table: pd.DataFrame, metric: str, goal: str, a, b) -> str:
    """What the two sweeps' columns hold and what differs between the sweeps' configs."""
    *_, name_a, name_b, _ = table.columns
    changes = sweep_differences(a, b)
    differ = ("; their configs differ in " + ", ".join(changes)) if changes else (
        "; their configs do not differ" if changes is not None else "")
    return wrap(f"{name_a} and {name_b} side by side: mean {describe(metric, goal)} per setting over ok trials, "
                f"difference = {name_b} - {name_a}{differ}.")


def sweep_differences(a, b, most: int = 6) -> list[str] | None:
    """The config keys whose values differ between two sweeps' sweep.yaml (`key: A -> B`); None
    when either has none. The swept parameters and the name are left out: the table shows those."""
    from harness.config.schema import flatten, read_yaml
    from harness.layout import SWEEP_CONFIG

    def config(path):
        path = path if path.is_dir() else path.parent
        try:
            raw = read_yaml(path / SWEEP_CONFIG)
        except (OSError, ValueError):  # ValueError: ConfigError, the file's damage
            return None
        return flatten({k: v for k, v in raw.items() if k != "name"}) if isinstance(raw, dict) else None

    ca, cb = config(a), config(b)
    if ca is None or cb is None:
        return None
    keys = [k for k in dict.fromkeys([*ca, *cb]) if ca.get(k) != cb.get(k) and not k.startswith("sweep.parameters")]
    shown = [f"{k} {ca.get(k)!r} -> {cb.get(k)!r}" for k in keys[:most]]
    return shown + ([f"{len(keys) - most} more"] if len(keys) > most else [])
