"""Search strategies: what to train next, told what came of it.

The scheduler asks a strategy for the next trial (`ask`), reports each epoch
of a running trial (`report`, which may answer "stop it"), and tells it every
outcome (`tell`): the ask/tell seam of Optuna's Study, Ray Tune's searchers and
keras-tuner's oracles. Grid, random and list sweeps know every setting up
front (harness/config/plan.py expands them), so their strategy hands the plan
out in order and never stops a trial early.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable

from harness.config.plan import TrialSpec
from harness.record import TrialRecord


class Strategy:
    """The interface the scheduler drives; subclasses implement `_next` and may learn in `tell`."""

    prunes = False  # True: executors report every epoch and wait for `report`'s verdict

    def __init__(self) -> None:
        self._retries: deque[TrialSpec] = deque()

    def ask(self) -> TrialSpec | None:
        """The next trial to start, or None when there is nothing to start now."""
        return self._retries.popleft() if self._retries else self._next()

    def retry(self, spec: TrialSpec) -> None:
        """A trial whose worker was lost: it goes first, before any new one."""
        self._retries.append(spec)

    def report(self, spec: TrialSpec, epoch: int, metrics: dict) -> bool:
        """An epoch of `spec` ended with `metrics`; True stops the trial (it is then pruned)."""
        return False

    def tell(self, spec: TrialSpec, record: TrialRecord) -> None:
        """`spec` finished (ok, diverged, failed or pruned) as `record` says."""

    def _next(self) -> TrialSpec | None:
        raise NotImplementedError


class Planned(Strategy):
    """Grid, random and list sweeps: the planned trials, in plan order."""

    def __init__(self, specs: Iterable[TrialSpec]):
        super().__init__()
        self._queue = deque(specs)

    def _next(self) -> TrialSpec | None:
        return self._queue.popleft() if self._queue else None
