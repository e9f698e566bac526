"""What a running sweep shows: a progress bar across trials and one line per finished trial."""

from __future__ import annotations

import sys

from tqdm import tqdm

from harness.record import DIVERGED, FAILED, OK, PRUNED, TrialRecord


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.2%}"


def trial_line(record: TrialRecord) -> str:
    """One line per finished trial, like the TensorBoard tutorial's end-of-run print."""
    mark = {DIVERGED: "DIVERGED", FAILED: "FAILED"}.get(record.status, record.status)
    secs = f"{record.train_seconds:.1f}s" if record.train_seconds is not None else "-"
    line = (f"{mark:<8} {record.trial_id}  steps {record.steps}  test acc {_pct(record.test_accuracy)}"
            f"  best val {_pct(record.best_val_accuracy)} (epoch {record.best_epoch or '-'})  {secs}")
    if record.status != OK and record.error:
        line += f"\n         {record.error.splitlines()[0][:200]}"
    return line


class SweepProgress:
    """done/total, running, failed, ETA and best so far, on stderr; trial lines above the bar."""

    def __init__(self, total: int, metric: str, goal: str, quiet: bool = False):
        self.metric, self.goal = metric, goal
        self.running = self.failed = self.pruned = 0
        self.best: TrialRecord | None = None
        self.bar = tqdm(total=total, unit="trial", file=sys.stderr, disable=quiet or None,
                        bar_format="{l_bar}{bar:20}| {n_fmt}/{total_fmt} trials [{elapsed}<{remaining}]{postfix}")
        self.quiet = quiet
        self._refresh()

    def consider(self, record: TrialRecord) -> None:
        """Take a finished trial into 'best so far' (also the ones done before a resume)."""
        value = getattr(record, self.metric, None)
        if record.status != OK or value is None:
            return
        best = None if self.best is None else getattr(self.best, self.metric)
        if best is None or (value > best if self.goal == "maximize" else value < best):
            self.best = record

    def started(self) -> None:
        self.running += 1
        self._refresh()

    def finished(self, record: TrialRecord) -> None:
        self.running -= 1
        self.failed += record.status not in (OK, PRUNED)
        self.pruned += record.status == PRUNED
        self.consider(record)
        if not self.quiet:
            self.bar.write(trial_line(record), file=sys.stdout)
        self.bar.update(1)
        self._refresh()

    def _refresh(self) -> None:
        best = "-" if self.best is None else f"{getattr(self.best, self.metric):.4g} ({self.best.trial_id})"
        pruned = f", pruned {self.pruned}" if self.pruned else ""
        self.bar.set_postfix_str(f"running {self.running}, failed {self.failed}{pruned}, best {self.metric} {best}")

    def close(self) -> None:
        self.bar.close()
