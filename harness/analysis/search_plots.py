"""How a search went: the best result so far against trials and compute, and every validation curve.

`runs/E/plots/search_progress.png`: the sweep's metric, best so far, against
the number of finished trials and against cumulative training seconds (pruned
and failed trials count in the compute); `runs/E/plots/validation_curves.png`:
each trial's validation accuracy by epoch, pruned trials dashed and marked
where they were stopped. Drawn on demand, with the other plots (`python -m harness plot runs/E`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from harness.analysis.curves import new_figure, save_figure
from harness.layout import HISTORY
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
    from matplotlib.ticker import MaxNLocator

    curve = best_so_far(df, metric, goal)
    fig = new_figure(figsize=(10, 4), layout="constrained")
    for ax, x, label in zip(fig.subplots(1, 2, sharey=True), ("trial", "seconds"),
                            ("trials finished", "cumulative training seconds (every trial, pruned ones too)")):
        ax.step(curve[x], curve["best"], where="post", color="tab:blue")
        ax.plot(curve[x], curve["best"], ".", color="tab:blue")
        ax.set_xlabel(label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=x == "trial"))
        ax.grid(alpha=0.3)
    fig.axes[0].set_ylabel(f"best {metric} so far")
    fig.suptitle(f"search progress ({len(curve)} trials, {int(curve['epochs'].iloc[-1]) if len(curve) else 0} epochs)")
    return fig


def validation_curves_plot(sweep_dir: Path, df: pd.DataFrame) -> Figure | None:
    """Validation accuracy by epoch of every trial that has a history; None when none has."""
    from matplotlib.ticker import MaxNLocator

    fig = new_figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    drawn = 0
    for row in df.itertuples():
        try:
            h = pd.read_csv(Path(sweep_dir) / row.trial_id / HISTORY)
        except (OSError, ValueError):
            continue
        if h.empty or "val_accuracy" not in h:
            continue
        pruned = row.status == PRUNED
        ax.plot(h["epoch"], h["val_accuracy"], "--" if pruned else "-", lw=1, alpha=0.6 if pruned else 0.9,
                color="tab:red" if pruned else "tab:blue")
        if pruned:
            ax.plot(h["epoch"].iloc[-1], h["val_accuracy"].iloc[-1], "x", color="tab:red")
        drawn += 1
    if not drawn:
        return None
    ax.plot([], [], "-", color="tab:blue", label="ran to the end")
    ax.plot([], [], "--x", color="tab:red", label="pruned (x: where it stopped)")
    ax.set(xlabel="epoch", ylabel="validation accuracy", title=f"validation curves of {drawn} trials")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def write_search_plots(sweep_dir: Path, df: pd.DataFrame, metric: str, goal: str, plots_dir: Path) -> list[Path]:
    written = []
    if (df["status"] == OK).any() and metric in df.columns and "ended" in df.columns:
        written.append(save_figure(progress_plot(df, metric, goal), plots_dir / PROGRESS_NAME))
    if (fig := validation_curves_plot(sweep_dir, df)) is not None:
        written.append(save_figure(fig, plots_dir / CURVES_NAME))
    return written
