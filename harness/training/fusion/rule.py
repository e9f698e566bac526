"""Which trials may train fused as one model: the rule, stated once (docs/fusion.md quotes it).

Members of a fused group may differ in MAY_DIFFER: their seed (initial
weights, data order, dropout masks), learning rate and schedule, the
optimizer's constants, L2, dropout rate, EMA decay, initialisers, how long
they train, early stopping and logging. Everything else must be equal:
family and layer widths, activation, optimizer kind (and Nesterov or not),
whether EMA is on, batch size, loss, data, determinism. Only MLPs and softmax
regression fuse (TensorFlow on CPU has no grouped convolution: a fused CNN
would be K convolutions in one graph, not built), and a trial that profiles
does not (its trace would show the group). How many members a group takes is
training/fusion/packing.py's (`sweep.fuse`), not this rule's.
"""

from __future__ import annotations

import json

from harness.config import schema

FAMILIES = ("softmax", "mlp")

MAY_DIFFER = (
    "train.seed", "train.lr", "train.schedule", "train.momentum", "train.beta_1", "train.beta_2", "train.rho",
    "train.epsilon", "train.ema", "train.epochs", "train.steps", "train.early_stopping", "model.dropout",
    "model.l2", "model.kernel_init", "model.init_stddev", "model.bias_init", "logging", "name", "description",
)


def group_key(cfg: schema.ExperimentConfig) -> str | None:
    """Trials with equal keys may be fused; None: this trial trains alone."""
    if cfg.model.family not in FAMILIES or cfg.logging.profile_steps:
        return None
    return shared_key(cfg)


def shared_key(cfg: schema.ExperimentConfig) -> str:
    """What the members of a group share (the config less MAY_DIFFER), for any trial, fusable or not:
    also the kind a trial's cost is calibrated for (training/cost.py)."""
    shared = schema.trial_dict(cfg)
    for dotted in MAY_DIFFER:
        *path, last = dotted.split(".")
        section = shared
        for part in path:
            section = section[part]
        section.pop(last)
    shared["train"]["ema_on"] = cfg.train.ema is not None
    return json.dumps(shared, sort_keys=True)


def _check() -> None:
    """Every name in MAY_DIFFER is a config path: a renamed field fails at import, not silently."""
    for dotted in MAY_DIFFER:
        if "." in dotted and schema.path_problem(dotted) is not None:
            raise AssertionError(schema.path_problem(dotted))


_check()