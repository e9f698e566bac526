"""Train a group of compatible trials as one fused model, each member still a trial of its own.

Each member is a whole unfused trial as far as anything outside this module
can tell: its own compiled Keras model (built under its own seed, restored
from its own checkpoint) and its own callbacks (history, summaries,
checkpoints, keep, pruning, early stopping) in the order the trial states
them. What changes is who calls them: instead of `model.fit`, the group runs
the members' steps together (stacked.Stacked), in chunks that end at
every step any member's callbacks act on (logging, checkpoints, a step
budget, the epoch's end), writes each member's slice back into its model
there and replays the callbacks' hooks in the order `fit` calls them. A
member that diverges, is pruned, stops early or runs out of epochs or steps
leaves the group at that point, and the rest go on without it; so does one
whose own callbacks fail (Member.alone), while a failure of the shared step
fails the whole group.

Members see exactly the batches their unfused runs see (order.permutation),
start from the weights their own seed gave their model, and have their own
learning rate, schedule, optimizer constants, L2, dropout rate and EMA decay;
what they must share is rule.py's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import keras
import numpy as np

from harness.training import order
from harness.training.callbacks import EpochHistory, initial_epoch
from harness.training.data import Split
from harness.training.fusion.stacked import CHUNK, Stacked


@dataclass(eq=False)
class Member:
    """One trial of a group: its model (compiled, restored), its callbacks, and when it acts."""

    model: keras.Model
    callbacks: list[keras.callbacks.Callback]
    seed: int  # its data order and dropout masks
    epochs: int
    every_steps: int = 0  # its callbacks log at multiples of this step...
    checkpoint_steps: int = 0  # ...and checkpoint at multiples of this one
    max_steps: int | None = None
    history: EpochHistory | None = None
    alone: Callable[..., bool] | None = None  # `alone(step, *args)`: False when the step failed this member
    done: bool = False
    failed: bool = False
    _sums: np.ndarray = field(default_factory=lambda: np.zeros(3))  # loss x examples, correct, examples

    def call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            self.step(getattr(cb, hook), *args)

    def step(self, step: Callable, *args) -> None:
        """`step(*args)`, which concerns this member alone: when `alone` says it failed, the member leaves
        the group (as a diverged one does) and none of its steps runs again. Without `alone`, its
        exception is the group's."""
        if self.failed:
            return
        if self.alone is None:
            step(*args)
        elif not self.alone(step, *args):
            self.failed = self.done = True

    def logs(self) -> dict:
        loss, correct, seen = self._sums
        return {"loss": loss / seen, "accuracy": correct / seen} if seen else {}


def train_group(members: list[Member], split: Split, batch_size: int) -> None:
    """Train every member to its end; members resumed at different points train as separate groups."""
    by_start: dict[tuple[int, int], list[Member]] = {}
    for m in members:
        key = (initial_epoch(m.model), int(m.model.optimizer.iterations.numpy()))
        by_start.setdefault(key, []).append(m)
    for part in by_start.values():
        _Group(part, split, batch_size).train()


class _Group:
    def __init__(self, members: list[Member], split: Split, batch_size: int):
        self.members = sorted(members, key=lambda m: m.seed)  # one data order, one first-layer matmul
        self.split, self.batch_size = split, batch_size
        self.n = len(split.x_train)
        self.steps_per_epoch = order.steps_per_epoch(self.n, batch_size)
        self.stacked: Stacked | None = None

    def train(self) -> None:
        start = initial_epoch(self.members[0].model)
        for m in self.members:
            m.model.stop_training = False
            m.call("set_model", m.model)
            m.call("set_params", {"epochs": m.epochs, "steps": self.steps_per_epoch, "verbose": 0})
            m.call("on_train_begin", None)
        for epoch in range(start, max(m.epochs for m in self.members)):
            for m in self._active():
                if epoch >= m.epochs:
                    self._end(m)
            if not self._active():
                break
            self._epoch(epoch)
        for m in self._active():
            self._end(m)

    def _active(self) -> list[Member]:
        return [m for m in self.members if not m.done]

    def _stack(self) -> Stacked:
        active = self._active()
        if self.stacked is None or self.stacked.models != [m.model for m in active]:
            if self.stacked is not None:
                self.stacked.store(full=True)
            self.stacked = Stacked([m.model for m in active], self.split.x_train, self.split.y_train,
                                   [m.seed for m in active], self.batch_size)
        return self.stacked

    def _epoch(self, epoch: int) -> None:
        active = self._active()
        steps, size = self.steps_per_epoch, self.batch_size
        pad = np.zeros(steps * size - self.n, np.int32)  # the partial last batch, padded (`valid` says so)
        rows = {seed: np.concatenate([order.permutation(seed, epoch, self.n), pad]).reshape(steps, size)
                for seed in dict.fromkeys(m.seed for m in active)}  # one per data order, not per member
        valid = np.full(steps, size, np.int32)
        valid[-1] = self.n - (steps - 1) * size
        for m in active:
            m._sums[:] = 0
            if m.history is not None:
                m.history.share = 1 / len(active)
            m.call("on_epoch_begin", epoch, None)
        batch = 0
        while batch < steps and self._active():
            stacked = self._stack()
            step = int(stacked.iterations.numpy())
            count = min(steps - batch, self._until_event(step))
            idx = np.zeros((CHUNK, len(stacked.orders), size), np.int32)
            idx[:count] = np.stack([rows[seed][batch:batch + count] for seed in stacked.orders], 1)
            chunk_valid = np.zeros(CHUNK, np.int32)
            chunk_valid[:count] = valid[batch:batch + count]
            losses, correct = (t.numpy()[:count] for t in stacked.run(idx, chunk_valid, count))
            self._after_chunk(epoch, batch, step, chunk_valid[:count], losses, correct)
            batch += count
        if self._active():
            self._end_epoch(epoch, self._active())

    def _until_event(self, step: int) -> int:
        """Steps from `step` to the next one at which any active member's callbacks act."""
        gaps = [CHUNK]
        for m in self._active():
            gaps += [p - step % p for p in (m.every_steps, m.checkpoint_steps) if p]
            if m.max_steps:
                gaps.append(max(1, m.max_steps - step))
        return min(gaps)

    def _after_chunk(self, epoch, batch, step, valid, losses, correct) -> None:
        """Replay the chunk's batch hooks per member; end the epoch of those that stopped inside it."""
        active = self._active()
        count = len(losses)
        # A checkpoint due at this step needs every variable back in the members' models; at the epoch's
        # last step _end_epoch writes them back anyway (and the Checkpointer saves there, not here).
        checkpoint = batch + count < self.steps_per_epoch and any(
            m.checkpoint_steps and (step + count) % m.checkpoint_steps == 0 for m in active)
        self.stacked.store(full=checkpoint)
        stopped = []
        for k, m in enumerate(active):
            bad = np.flatnonzero(~np.isfinite(losses[:, k]))
            last = int(bad[0]) if len(bad) else count - 1  # a NaN ends the member's chunk at its exact step
            seen = valid[:last + 1]
            m._sums += ((losses[:last + 1, k] * seen).sum(), correct[:last + 1, k].sum(), seen.sum())
            m.call("on_train_batch_begin", batch, None)  # once per chunk, as fit calls them per execution
            m.call("on_train_batch_end", batch + last, m.logs())
            if m.model.stop_training and not m.failed:
                stopped.append(m)
        if stopped:
            self._end_epoch(epoch, stopped)
            for m in stopped:
                self._end(m)

    def _end_epoch(self, epoch: int, members: list[Member]) -> None:
        """Validation and the epoch-end hooks, as `fit` runs them, for `members`."""
        self.stacked.store(full=True)
        for m in members:
            m.call("on_test_begin", None)
        val_loss, val_acc = self.stacked.evaluate(self.split.x_val, self.split.y_val)
        position = {id(model): k for k, model in enumerate(self.stacked.models)}
        for m in members:
            k = position[id(m.model)]
            m.call("on_test_end", None)
            m.call("on_epoch_end", epoch, {**m.logs(), "val_loss": float(val_loss[k]), "val_accuracy": float(val_acc[k])})
        for m in members:
            if m.model.stop_training or epoch + 1 >= m.epochs:
                self._end(m)

    def _end(self, m: Member) -> None:
        if m.done:
            return
        m.done = True
        m.step(m.model.optimizer.finalize_variable_values, m.model.trainable_weights)  # EMA weights, as fit ends
        m.call("on_train_end", None)
