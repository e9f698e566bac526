"""A trial's learning curves: train and validation loss and accuracy against the optimizer step.

Saved as `curves.png` and `curves.svg` beside the trial's history (as the TF2
tutorial saves its curves as SVG), on demand by `python -m harness plot`: a sweep
does not draw them (0.3 s of a core per trial, taken from the trials training).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from harness.files import atomic_write_bytes, os_problem
from harness.layout import CURVES, HISTORY, RECORD
from harness.record import DamagedRecord, TrialRecord

TRAIN_COLOR, VAL_COLOR, TEST_COLOR = "tab:blue", "tab:orange", "tab:green"



def new_figure(**kwargs) -> Figure:
    """A matplotlib Figure, imported only when something is drawn: a sweep with nothing
    to plot never pays matplotlib's quarter-second import. No pyplot: no global state,
    no display, no backend to pick."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def save_figure(fig: Figure, path: Path) -> Path:
    """Write `fig` to `path` (format from the suffix) atomically: readers never see half a file."""
    path = Path(path)
    buf = io.BytesIO()
    # No dates in the files, so re-plotting unchanged data gives identical bytes.
    fig.savefig(buf, format=path.suffix[1:], dpi=100, metadata={"Date": None} if path.suffix == ".svg" else {})
    atomic_write_bytes(path, buf.getvalue())
    return path


def learning_curves(history: pd.DataFrame, title: str = "", test: dict | None = None) -> Figure:
    """Two panels, loss and accuracy against the optimizer step, train and validation lines.

    `history` has history.csv's columns (epoch, step, loss, accuracy, val_loss, val_accuracy, ...);
    `test` optionally {"loss": ..., "accuracy": ...}, drawn as a point after the last step.
    The training values are Keras' running means over each epoch, the validation values are
    measured at the epoch's end. Accuracies in %.
    """
    from harness.analysis.ticks import metric_axis

    fig = new_figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    h = history.sort_values("step")
    steps = h["step"].to_numpy(dtype=float)
    for ax, key, name in ((axes[0], "loss", "loss"), (axes[1], "accuracy", "accuracy")):
        for col, label, color in ((key, "train (epoch mean)", TRAIN_COLOR), (f"val_{key}", "validation", VAL_COLOR)):
            if col not in h:
                continue
            y = pd.to_numeric(h[col], errors="coerce").to_numpy(dtype=float)
            keep = np.isfinite(y)
            if keep.any():
                ax.plot(steps[keep], y[keep], marker="o", ms=4, color=color, label=label)
        value = (test or {}).get(key)
        if value is not None and np.isfinite(value) and len(steps):
            ax.plot([steps[-1]], [value], marker="*", ms=12, ls="none", color=TEST_COLOR,
                    label=f"test ({value:.4f})" if key == "loss" else f"test ({value:.2%})")
        ax.set(xlabel="step", ylabel=name, title=name)
        ax.set_xlim(left=0, right=(steps.max() * 1.04) if len(steps) else None)
        ax.grid(True, alpha=0.3)
        if key == "accuracy":
            metric_axis(ax.yaxis, key)
        if ax.lines:
            ax.legend(loc="upper right" if key == "loss" else "lower right", fontsize=9)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")
        _epoch_axis(ax, h)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def _epoch_axis(ax, h: pd.DataFrame) -> None:
    """Epochs along the top, when every epoch had the same number of steps."""
    if len(h) < 1 or "epoch" not in h:
        return
    per_epoch = h["step"].to_numpy(dtype=float) / h["epoch"].to_numpy(dtype=float)
    if per_epoch[0] > 0 and np.allclose(per_epoch, per_epoch[0]):
        spe = per_epoch[0]
        top = ax.secondary_xaxis("top", functions=(lambda s: s / spe, lambda e: e * spe))
        top.set_xlabel("epoch", fontsize=9)
        if h["epoch"].max() <= 20:
            top.set_xticks(sorted(h["epoch"].astype(int).unique()))


def curves_current(trial_dir: Path, out_dir: Path | None = None) -> bool:
    """Whether the trial's curves.png and curves.svg are newer than its history and record."""
    trial_dir = Path(trial_dir)
    out_dir = Path(out_dir) if out_dir is not None else trial_dir
    try:
        made = min((out_dir / f"{CURVES}{ext}").stat().st_mtime for ext in (".png", ".svg"))
        sources = max((trial_dir / n).stat().st_mtime for n in (HISTORY, RECORD))
    except OSError:
        return False
    return made >= sources


def read_history(trial_dir: Path) -> pd.DataFrame | None:
    """The trial's history.csv (None when it has none); ValueError naming it when it is damaged."""
    path = Path(trial_dir) / HISTORY
    try:
        history = pd.read_csv(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ValueError(os_problem(e)) from None
    except ValueError as e:  # pandas' parser errors, an empty file, bytes that are not UTF-8
        raise ValueError(f"{path}: not a readable history ({(str(e).strip() or type(e).__name__).splitlines()[0]})") \
            from None
    missing = [c for c in ("epoch", "step") if c not in history.columns]
    if missing:
        raise ValueError(f"{path}: not a history (no column {', '.join(missing)})")
    return history


def write_trial_curves(trial_dir: Path, out_dir: Path | None = None,
                       record: TrialRecord | None = None) -> list[Path]:
    """curves.png and curves.svg for one trial (in `out_dir`, default the trial's directory);
    [] when it has no history, ValueError naming a damaged one. About 0.3 s a trial."""
    trial_dir = Path(trial_dir)
    history = read_history(trial_dir)
    if history is None or history.empty:
        return []
    if record is None:
        try:
            record = TrialRecord.load(trial_dir)
        except DamagedRecord:  # the curves need only the history; the title does without the test accuracy
            record = None
    title, test = trial_dir.name, None
    if record is not None:
        test = {"loss": record.test_loss, "accuracy": record.test_accuracy}
        if record.test_accuracy is not None:
            title += f"\n{record.status}, test accuracy {record.test_accuracy:.2%}, {record.epochs_run} epochs"
    fig = learning_curves(history, title, test)
    out_dir = Path(out_dir) if out_dir is not None else trial_dir
    return [save_figure(fig, out_dir / f"{CURVES}.png"), save_figure(fig, out_dir / f"{CURVES}.svg")]
