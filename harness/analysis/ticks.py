"""Axes that read right: accuracies in percent, tick labels as exact as their spacing, labels that do not
overlap. Imported by the drawing functions only when they draw (it imports matplotlib).
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import Formatter

from harness.metrics import percent

def tick_decimals(ticks, most: int = 6) -> int:
    """The fewest decimals that print every tick exactly: ticks 0.25 apart need two (96.75, 97.00), where
    one would print 96.8 and 97.2 for ticks that are not there, and two neighbours could read the same."""
    t = np.asarray(ticks, dtype=float)
    t = np.unique(t[np.isfinite(t)])
    if not len(t):
        return 0
    step = np.diff(t).min() if len(t) > 1 else max(abs(t[0]), 1.0)
    for d in range(most + 1):
        if np.all(np.abs(np.round(t, d) - t) <= 1e-6 * step):
            return d
    return most


class SpacedTicks(Formatter):
    """Tick labels of `scale` * the value (100: fractions shown in percent), all with the decimals
    `tick_decimals` picks for the ticks drawn together."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def __call__(self, x, pos=None) -> str:
        ticks = self.locs if len(self.locs) else [x]
        return f"{self.scale * x:.{tick_decimals(np.asarray(ticks) * self.scale)}f}"


def metric_axis(axis, metric: str, note: str = "") -> None:
    """`axis` (e.g. ax.yaxis) shows `metric`: accuracies in percent, as compare's tables and the verdict
    show them, labelled 'METRIC in % (NOTE)'."""
    axis.set_major_formatter(SpacedTicks(100.0 if percent(metric) else 1.0))
    axis.set_label_text(metric + (" in %" if percent(metric) else "") + (f" ({note})" if note else ""))


def place_labels(ax, points, texts, **text_kw) -> None:
    """Each text beside its point (data coordinates) at the first spot of rings around it where its box
    overlaps no label placed before, no point, and stays inside the axes; where none does, the spot
    overlapping least. Greedy, good enough for a few dozen labels; the labels are left out of the layout,
    so the figure's layout is settled first and the boxes measured stay where they were measured."""
    fig = ax.figure
    fig.draw_without_rendering()
    inside = ax.get_window_extent()
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    dot = 4.0 * fig.dpi / 72  # half a marker, in pixels
    taken = [np.array([x - dot, y - dot, x + dot, y + dot]) for x, y in ax.transData.transform(points)]
    for point, text in zip(points, texts):
        label = ax.annotate(text, tuple(point), xytext=(0, 0), textcoords="offset points", annotation_clip=False,
                            **text_kw)
        label.set_in_layout(False)
        best, best_cost = None, np.inf
        for spot in _spots():
            box = _put(label, spot)
            cost = sum(_overlap(box, t) for t in taken) + 10 * _outside(box, inside)
            if cost < best_cost:
                best, best_cost = spot, cost
            if cost == 0:
                break
        taken.append(_put(label, best))


def _spots():
    """Offsets in points around a point, nearest first, each with the alignment that keeps the text off it."""
    for r in (5, 12, 20, 30, 42):
        for dx, dy in ((1, 1), (1, -1), (-1, 1), (-1, -1), (0, 1), (0, -1), (1, 0), (-1, 0)):
            ha = "left" if dx > 0 else "right" if dx < 0 else "center"
            va = "bottom" if dy > 0 else "top" if dy < 0 else "center"
            yield (dx * r, dy * r), ha, va


def _put(label, spot) -> np.ndarray:
    """Move `label` to `spot`; its box (x0, y0, x1, y1) in pixels there."""
    offset, ha, va = spot
    label.set_position(offset)
    label.set_horizontalalignment(ha)
    label.set_verticalalignment(va)
    b = label.get_window_extent()
    return np.array([b.x0, b.y0, b.x1, b.y1])


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """The area two boxes (x0, y0, x1, y1) share."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _outside(box: np.ndarray, axes) -> float:
    """The area of `box` outside the axes' box."""
    area = (box[2] - box[0]) * (box[3] - box[1])
    return area - _overlap(box, np.array([axes.x0, axes.y0, axes.x1, axes.y1]))
