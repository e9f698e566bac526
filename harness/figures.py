"""Pictures of a trial's results, rendered with matplotlib to PNG bytes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """10x10 counts: row = true digit, column = predicted digit."""
    counts = np.zeros((10, 10), dtype=np.int64)
    np.add.at(counts, (y_true.astype(int), y_pred.astype(int)), 1)
    return counts


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray) -> bytes:
    counts = confusion_counts(y_true, y_pred)
    fig, ax = plt.subplots(figsize=(6, 5.5))
    im = ax.imshow(counts, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    threshold = counts.max() / 2
    for i in range(10):
        for j in range(10):
            if counts[i, j]:
                ax.text(j, i, counts[i, j], ha="center", va="center", fontsize=7,
                        color="white" if counts[i, j] > threshold else "black")
    ax.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true",
           title=f"Confusion matrix (accuracy {np.trace(counts) / max(counts.sum(), 1):.2%})")
    return _png(fig)


def misclassified_grid(x: np.ndarray, y_true: np.ndarray, probs: np.ndarray, n: int = 36) -> bytes:
    """The most confidently wrong test digits, each titled `true -> predicted (p)`."""
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]])][:n]
    cols = 6
    rows = max(1, int(np.ceil(len(wrong) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.3, rows * 1.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        ax.imshow(x[i], cmap="gray_r")
        ax.set_title(f"{y_true[i]}->{pred[i]} ({probs[i, pred[i]]:.2f})", fontsize=8)
    fig.suptitle(f"{len(wrong)} most confident mistakes" if len(wrong) else "no mistakes")
    return _png(fig)
