"""What a running sweep shows: a progress bar across trials and one line per finished trial."""

from __future__ import annotations

import shutil
import sys

from tqdm import tqdm

from harness.layout import run_name
from harness.record import DIVERGED, FAILED, OK, PRUNED, TrialRecord


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.2%}"


def trial_line(record: TrialRecord) -> str:
    """One line per finished trial, like the TensorBoard tutorial's end-of-run print."""
    mark = {DIVERGED: "DIVERGED", FAILED: "FAILED"}.get(record.status, record.status)
    # What the setting's steps cost, the same in any fused group (not the group's wall time shared out).
    secs = (f"cost {record.cost_seconds:.2g}s" if record.cost_seconds is not None
            else f"{record.train_seconds:.1f}s" if record.train_seconds is not None else "-")
    line = (f"{mark:<8} {run_name(record.trial_id)}  steps {record.steps}  test acc {_pct(record.test_accuracy)}"
            f"  best val {_pct(record.best_val_accuracy)} (epoch {record.best_epoch or '-'})  {secs}")
    if record.status != OK and record.error:
        line += f"\n         {record.error.splitlines()[0][:200]}"
    return line


class SweepProgress:
    """done/total, ETA, best so far, running and failed, on stderr, within the terminal's width
    (tqdm cuts what does not fit); trial lines above the bar."""

    def __init__(self, total: int, metric: str, goal: str, quiet: bool = False):
        self.metric, self.goal = metric, goal
        self.running = self.failed = self.pruned = 0
        self.best: TrialRecord | None = None
        self.bar = tqdm(total=total, unit="trial", file=sys.stderr, disable=quiet or None,
                        bar_format="{n_fmt}/{total_fmt} trials |{bar:10}| {elapsed}<{remaining}{postfix}")
        # what the bar takes before its postfix, at its widest: '32/32 trials |##########| 1:02:03<1:02:03, '
        self._fixed = len(f"{total}/{total} trials |{' ' * 10}| 0:00:00<0:00:00, ")
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
        """The postfix, best value first, the best trial's id cut to what the terminal has room for."""
        counts = ", ".join([f"{self.running} running"] + [f"{n} {what}" for n, what in
                                                          ((self.failed, "failed"), (self.pruned, "pruned")) if n])
        if self.best is None:
            self.bar.set_postfix_str(counts)
            return
        value = getattr(self.best, self.metric)
        name = {"best_val_accuracy": "val acc", "test_accuracy": "test acc"}.get(self.metric, self.metric)
        best = f"best {name} " + (f"{value:.2%}" if self.metric.endswith("accuracy") else f"{value:.4g}")
        room = shutil.get_terminal_size((80, 24)).columns - 1 - self._fixed - len(best) - len(counts) - 5
        tid = self.best.trial_id
        shown = f" ({tid if len(tid) <= room else tid[:room - 1] + '…'})" if room >= 8 else ""
        self.bar.set_postfix_str(f"{best}{shown}; {counts}")

    def close(self) -> None:
        self.bar.close()
