"""How a search went: the best result so far against trials and compute, and every validation curve.

`runs/E/plots/search_progress.png`: the sweep's metric, best so far, against
the number of finished trials and against cumulative training seconds (pruned
and failed trials count in the compute); `runs/E/plots/validation_curves.png`:
each trial's validation accuracy by epoch, coloured by setting, the best few
named, pruned trials dashed and marked where they were stopped. Drawn by
`python -m harness plot`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from harness.analysis.curves import new_figure, read_history, save_figure
from harness.record import FINISHED, OK, PRUNED

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PROGRESS_NAME = "search_progress.png"
CURVES_NAME = "validation_curves.png"


def best_so_far(df: pd.DataFrame, metric: str, goal: str) -> pd.DataFrame:
    """Finished trials in the order they ended: the best ok `metric` so far and the compute spent so far."""
    done = df[df["status"].isin(FINISHED)].sort_values("ended", kind="stable")
    value = pd.to_numeric(done[metric], errors="coerce").where(done["status"] == OK)
    best = (value.cummax() if goal == "maximize" else value.cummin()).ffill()  # pruned/failed: best unchanged
    return pd.DataFrame({"trial": np.arange(1, len(done) + 1), "trial_id": done["trial_id"].to_numpy(),
                         "best": best.to_numpy(), "seconds": done["train_seconds"].fillna(0).cumsum().to_numpy(),
                         "epochs": done["epochs_run"].fillna(0).cumsum().to_numpy()})


def progress_plot(df: pd.DataFrame, metric: str, goal: str) -> Figure:
    """The best `metric` so far against trials finished and against the compute spent (accuracies in %)."""
    from matplotlib.ticker import MaxNLocator

    from harness.analysis.ticks import metric_axis

    curve = best_so_far(df, metric, goal)
    fig = new_figure(figsize=(10, 4), layout="constrained")
    for ax, x, label in zip(fig.subplots(1, 2, sharey=True), ("trial", "seconds"),
                            ("trials finished", "cumulative training seconds (every trial, pruned ones too)")):
        ax.step(curve[x], curve["best"], where="post", color="tab:blue")
        ax.plot(curve[x], curve["best"], ".", color="tab:blue")
        ax.set_xlabel(label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=x == "trial"))
        ax.grid(alpha=0.3)
    metric_axis(fig.axes[0].yaxis, metric, "best so far")
    fig.suptitle(f"search progress ({len(curve)} trials, {int(curve['epochs'].iloc[-1]) if len(curve) else 0} epochs)")
    return fig


def ranked_groups(df: pd.DataFrame, metric: str, goal: str) -> list[str]:
    """Every setting (group) of the table, best mean ok `metric` first; settings without one last."""
    groups = df["group"].fillna(df["trial_id"]).astype(str)
    value = pd.to_numeric(df[metric], errors="coerce").where(df["status"] == OK) if metric in df else None
    if value is None:
        return list(dict.fromkeys(groups))
    means = value.groupby(groups, sort=False).mean()
    return means.sort_values(ascending=goal == "minimize", na_position="last", kind="stable").index.tolist()


def validation_curves_plot(sweep_dir: Path, df: pd.DataFrame, metric: str = "best_val_accuracy",
                           goal: str = "maximize", labelled: int = 5) -> Figure | None:
    """Validation accuracy by epoch of every trial that has a history, one colour per setting (its
    repeats share it), the best `labelled` settings by `metric` named in the legend; None when no
    trial has a history."""
    from matplotlib import colormaps
    from matplotlib.ticker import MaxNLocator

    from harness.analysis.ticks import metric_axis

    order = ranked_groups(df, metric, goal)
    strong, light = colormaps["tab10"], colormaps["tab20"]  # the best ten distinct, the rest lighter
    colour = {g: strong(i) if i < 10 else light((2 * (i - 10) + 1) % 20) for i, g in enumerate(order)}
    fig = new_figure(figsize=(8, 5.5), layout="constrained")
    ax = fig.subplots()
    drawn, pruned_any, named = 0, False, set()
    for row in df.itertuples():
        try:
            h = read_history(Path(sweep_dir) / row.trial_id)
        except ValueError:  # damaged: `plot` names it with the learning curves it cannot draw
            continue
        if h is None or h.empty or "val_accuracy" not in h:
            continue
        group = str(row.group) if isinstance(row.group, str) and row.group else row.trial_id
        rank = order.index(group) if group in order else len(order)
        top = rank < labelled
        pruned = row.status == PRUNED
        label = f"{rank + 1}. {group}" if top and group not in named else None
        named.add(group)
        ax.plot(h["epoch"], h["val_accuracy"], "--" if pruned else "-", lw=1.8 if top else 0.9,
                alpha=0.95 if top else 0.5, color=colour.get(group, "grey"), zorder=3 if top else 2, label=label)
        if pruned:
            ax.plot(h["epoch"].iloc[-1], h["val_accuracy"].iloc[-1], "x", color=colour.get(group, "grey"))
            pruned_any = True
        drawn += 1
    if not drawn:
        return None
    if pruned_any:
        ax.plot([], [], "--x", color="black", label="pruned (x: where it stopped)")
    ax.set(xlabel="epoch",
           title=f"validation curves of {drawn} trials in {len(order)} settings (colour: setting; repeats share it)")
    ax.title.set_fontsize(10)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    metric_axis(ax.yaxis, "val_accuracy", "every epoch")
    handles, labels = ax.get_legend_handles_labels()
    ranked = sorted(zip(labels, handles), key=lambda e: int(e[0].split(".")[0]) if e[0][0].isdigit() else len(order))
    fig.legend([h for _, h in ranked], [t for t, _ in ranked], loc="outside lower left", fontsize=8, frameon=False,
               title=f"the best {min(labelled, len(order))} settings by {metric}, best first", title_fontsize=8,
               alignment="left")
    ax.grid(alpha=0.3)
    return fig


def write_search_plots(sweep_dir: Path, df: pd.DataFrame, metric: str, goal: str, plots_dir: Path) -> list[Path]:
    written = []
    if (df["status"] == OK).any() and metric in df.columns and "ended" in df.columns:
        written.append(save_figure(progress_plot(df, metric, goal), plots_dir / PROGRESS_NAME))
    if (fig := validation_curves_plot(sweep_dir, df, metric, goal)) is not None:
        written.append(save_figure(fig, plots_dir / CURVES_NAME))
    return written
