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
    """The most confidently wrong test digits, each titled `true->predicted (p)`.

    The digits are tiled into one image (one imshow, not a subplot each), which
    keeps this cheap enough to run at the end of every trial.
    """
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]])][:n]
    cols, cell = 6, 36  # 28 pixels plus room for the label above each digit
    rows = max(1, int(np.ceil(len(wrong) / cols)))
    canvas = np.zeros((rows * cell, cols * cell), dtype=np.uint8)
    fig, ax = plt.subplots(figsize=(cols * 1.1, rows * 1.1 + 0.4))
    for k, i in enumerate(wrong):
        r, c = divmod(k, cols)
        canvas[r * cell + 8:r * cell + 36, c * cell + 4:c * cell + 32] = x[i]
        ax.text(c * cell + 18, r * cell + 4, f"{y_true[i]}->{pred[i]} ({probs[i, pred[i]]:.2f})",
                ha="center", va="center", fontsize=7, color="black")
    ax.imshow(255 - canvas, cmap="gray", vmin=0, vmax=255)
    ax.axis("off")
    ax.set_title(f"{len(wrong)} most confident mistakes" if len(wrong) else "no mistakes", fontsize=9)
    return _png(fig)
