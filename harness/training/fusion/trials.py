"""A fused group of trials, each with the steps of trial.py: begin, prepare, one shared train, finish, close.

Every member is begun, prepared (record, config, data, its own model under its
own seed, writer, checkpoint restored), given its own callbacks, finished
(tested, kept) and closed exactly as `run_trial` does it; only the training
between is shared (loop.train_group). A group fails member by member: an
exception in a step of one member (its prepare, callbacks or finish: its files,
data, numbers) fails that member alone, recorded as `run_trial` records it, and
the others go on; a failure in the shared part fails the members still running.
Ctrl-C leaves them pending, to resume.
"""

from __future__ import annotations

import functools
from typing import Callable

from harness.config.plan import TrialSpec
from harness.layout import Workspace
from harness.record import TrialRecord
from harness.training import data as data_mod
from harness.training import optim
from harness.training.fusion import loop
from harness.training import trial as trial_mod


def run_group(specs: list[TrialSpec], workspace: Workspace, mnist: data_mod.Mnist | None = None,
              on_epoch: Callable[[TrialSpec], Callable[[int, dict], bool] | None] = lambda spec: None,
              ) -> list[TrialRecord]:
    """Train `specs` (fusable: rule.group_key equal) as one group; their records, in order.

    `on_epoch(spec)` gives the epoch callback of a member (see run_trial), or None.
    """
    begun = [trial_mod.begin(spec, workspace) for spec in specs]
    live = [t for t in begun if isinstance(t, trial_mod.Trial)]
    if live:

        def attempt() -> None:
            members = [(t, _member(t, on_epoch(t.spec))) for t in live if trial_mod.alone(t, trial_mod.prepare, t, mnist)]
            if members:
                first = members[0][0]
                loop.train_group([m for _, m in members], first.split, first.cfg.train.batch_size)
            for t, m in members:
                m.step(trial_mod.finish, t)
        trial_mod.recorded(live, attempt)
    return [t.record if isinstance(t, trial_mod.Trial) else t for t in begun]


def _member(t: trial_mod.Trial, on_epoch) -> loop.Member:
    """`t` as a member of its group: building its callbacks, and each of their hooks, fails it alone."""
    cfg = t.cfg
    member = loop.Member(t.model, [], cfg.train.seed, optim.epochs_to_run(cfg.train, t.steps_per_epoch),
                         every_steps=cfg.logging.every_steps, checkpoint_steps=cfg.logging.checkpoint_steps,
                         max_steps=cfg.train.steps, history=t.history, alone=functools.partial(trial_mod.alone, t))
    member.step(lambda: member.callbacks.extend(trial_mod.callbacks(t, on_epoch)))
    return member
