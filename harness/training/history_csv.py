"""A history.csv row read back as EpochHistory reads it on resume; without Keras, so the sweep's driver
checks a history before any worker resumes it (sweep/repair.py)."""

from __future__ import annotations


def parse_row(row: dict) -> dict:
    """`row` (csv.DictReader's) as numbers: epoch and step integers, the rest floats or None when empty.

    ValueError or TypeError for a row that is not one EpochHistory wrote."""
    return {k: (float(v) if v not in ("", None) else None) if k not in ("epoch", "step") else int(v) for k, v in row.items()}
