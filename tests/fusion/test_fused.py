"""Fused training is the same training: real members against their real unfused twins.

Each unfused twin is `model.fit` over the harness's data order (order.py), as
trial.py runs it; each fused member is the same model trained inside a group
(loop.py). Without dropout they must agree to float round-off at every step.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from scipy import stats

from harness import datasets
from harness.config import schema
from harness.training import data, models, optim, order
from harness.training.fusion import loop, rule, stacked
from harness.training.callbacks import EmaEvaluation, TrainingGuard
from tiny import dataset_or_skip

B = 32
N_TRAIN = 1600  # 50 steps an epoch: 4 epochs make the 200 steps compared


class Steps(keras.callbacks.Callback):
    """Keras' running loss at every step, and each epoch's logs."""

    def __init__(self):
        super().__init__()
        self.losses, self.epochs = [], []

    def on_train_batch_end(self, batch, logs=None):
        if logs:
            self.losses.append(logs["loss"])

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(dict(logs))


@pytest.fixture(scope="module", params=list(datasets.NAMES))
def split(request):
    """Each dataset's first images: fused training is the same training on either."""
    return data.split(dataset_or_skip(request.param), 1000, N_TRAIN, 1000)


def config(**train) -> schema.ExperimentConfig:
    model = {"family": "mlp", "hidden": [24], **train.pop("model", {})}
    return schema.from_dict({"model": model, "train": {"batch_size": B, "epochs": 4, **train}})


def build(cfg, split):
    keras.utils.set_random_seed(cfg.train.seed)  # as trial.py builds it: the member's own initial weights
    model = models.build(cfg.model, cfg.data.scaling)
    optim.compile_model(model, cfg.train, len(split.x_train))
    return model


def accuracy_on_test(model, split) -> float:
    return float(np.mean(model.predict(split.x_test, verbose=0).argmax(1) == split.y_test))


def unfused(cfg, split):
    model, steps = build(cfg, split), Steps()
    epochs = optim.epochs_to_run(cfg.train, order.steps_per_epoch(len(split.x_train), B))
    model.fit(order.dataset(split.x_train, split.y_train, cfg.train.seed, B, 0, epochs), epochs=epochs,
              steps_per_epoch=order.steps_per_epoch(len(split.x_train), B), validation_data=(split.x_val, split.y_val),
              callbacks=[*([EmaEvaluation()] if cfg.train.ema else []), TrainingGuard(cfg.train.steps), steps],
              verbose=0, shuffle=False)
    return steps, accuracy_on_test(model, split)


def fused_run(cfgs, split):
    built = [build(c, split) for c in cfgs]
    steps = [Steps() for _ in cfgs]
    members = [loop.Member(m, [TrainingGuard(c.train.steps), s], c.train.seed,
                            optim.epochs_to_run(c.train, order.steps_per_epoch(len(split.x_train), B)),
                            every_steps=1, max_steps=c.train.steps)
               for m, s, c in zip(built, steps, cfgs)]
    loop.train_group(members, split, B)
    return steps, [accuracy_on_test(m, split) for m in built]


def assert_same_training(cfgs, split):
    assert len({rule.group_key(c) for c in cfgs}) == 1, "the test's members must be fusable"
    got, accuracies = fused_run(cfgs, split)
    for cfg, steps, accuracy in zip(cfgs, got, accuracies):
        twin, twin_accuracy = unfused(cfg, split)
        assert len(steps.losses) == len(twin.losses) >= 200 or cfg.train.steps
        np.testing.assert_allclose(steps.losses, twin.losses, rtol=2e-5, err_msg=str(cfg.train))
        for mine, theirs in zip(steps.epochs, twin.epochs):  # an image on the edge may flip: round-off too
            for key in theirs:
                np.testing.assert_allclose(mine[key], theirs[key], **({"atol": 0.002} if "acc" in key else {"rtol": 1e-4}))
        assert abs(accuracy - twin_accuracy) <= 0.001 + 1e-9, (cfg.train, accuracy, twin_accuracy)  # one image


SCHEDULES = [{"kind": "exponential", "decay_rate": 0.5, "decay_steps": 40, "staircase": True},
             {"kind": "exponential", "decay_rate": 0.7, "decay_epochs": 1.0}]


@pytest.mark.parametrize("optimizer, lr, knobs", [
    ("sgd", 0.1, {}),
    ("momentum", 0.02, {"momentum": 0.5}),
    ("adam", 0.002, {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-5}),
    ("rmsprop", 0.001, {"rho": 0.8, "epsilon": 1e-5}),
    ("adagrad", 0.05, {"epsilon": 1e-5}),
])
def test_every_optimizer_and_schedule_trains_exactly_as_unfused(optimizer, lr, knobs, split):
    """Three members: constant lr, a staircase schedule with L2 and other constants, a smooth one."""
    assert_same_training([
        config(optimizer=optimizer, lr=lr, seed=0),
        config(optimizer=optimizer, lr=lr * 3, seed=1, schedule=SCHEDULES[0], model={"l2": 1e-3}, **knobs),
        config(optimizer=optimizer, lr=lr / 2, seed=2, schedule=SCHEDULES[1], model={"kernel_init": "he_normal"}),
    ], split)


def test_nesterov_and_moving_averages_train_exactly_as_unfused(split):
    assert_same_training([config(optimizer="momentum", lr=0.05, nesterov=True, ema=0.9, seed=3),
                          config(optimizer="momentum", lr=0.01, nesterov=True, ema=0.99, momentum=0.7, seed=4)], split)
    assert_same_training([config(optimizer="adam", lr=0.003, ema=0.95, seed=5, model={"family": "softmax"}),
                          config(optimizer="adam", lr=0.01, ema=0.8, seed=6, model={"family": "softmax"})], split)


def test_a_second_group_of_one_kind_reuses_the_compiled_step_and_trains_exactly(split):
    """A race's next round: the same settings with new seeds, then other rates and L2. The step is
    compiled once (its argument carries everything that differs), and each group still trains as unfused."""
    sgd = {"optimizer": "momentum", "momentum": 0.5}
    rounds = [[config(**sgd, lr=lr, seed=seed, model={"l2": l2}) for lr, l2 in ((0.02, 0.0), (0.05, 1e-4))]
              for seed in (20, 21)]
    rounds.append([config(**sgd, lr=0.01, seed=22, model={"l2": 1e-3}), config(**sgd, lr=0.03, seed=22)])
    programs = [_program_after(cfgs, split) for cfgs in rounds]
    assert programs[0] is programs[1] is programs[2]  # one data order each round: one kind of group
    fused_run(rounds[0], split)  # compiles the step
    assert_same_training(rounds[2], split)  # runs it again with other seeds, rates and L2
    assert programs[2].run.experimental_get_tracing_count() == 1


def _program_after(cfgs, split) -> stacked.Program:
    models_ = [build(c, split) for c in cfgs]
    return stacked.Stacked(models_, split.x_train, split.y_train, [c.train.seed for c in cfgs], B).program


def test_members_that_diverge_or_end_early_leave_the_rest_exact(split):
    """One member's NaN, a shorter run and a step budget change nothing for the others."""
    cfgs = [config(optimizer="sgd", lr=0.2, seed=7), config(optimizer="sgd", lr=1e12, seed=8),
            config(optimizer="sgd", lr=0.1, seed=9, epochs=1), config(optimizer="sgd", lr=0.1, seed=10, steps=70)]
    got, _ = fused_run(cfgs, split)
    diverged, short, budget = got[1], got[2], got[3]
    assert not np.isfinite(diverged.losses[-1]) and len(diverged.losses) < 10
    assert len(short.epochs) == 1 and len(budget.losses) == 70 and len(budget.epochs) == 2
    for i in (0, 2, 3):
        twin, _ = unfused(cfgs[i], split)
        np.testing.assert_allclose(got[i].losses, twin.losses, rtol=2e-5)


@pytest.mark.slow
def test_dropout_members_are_statistically_like_unfused_ones(split):
    """Dropout masks differ (each member draws its own from its seed), so compare distributions.

    Welch's t-test on test accuracy over 6 seeds a side, at alpha = 0.01: a false alarm in 1 run of
    100 when both are the same training. That dropout acts at all is checked too (against rate 0).
    """
    cfgs = [config(optimizer="adam", lr=0.003, seed=s, epochs=2, model={"dropout": 0.5, "hidden": [64]})
            for s in range(20, 26)]
    _, fused_acc = fused_run(cfgs, split)
    alone = [unfused(c, split)[1] for c in cfgs]
    assert stats.ttest_ind(fused_acc, alone, equal_var=False).pvalue > 0.01, (fused_acc, alone)
    no_dropout = [config(optimizer="adam", lr=0.003, seed=s, epochs=2, model={"hidden": [64]}) for s in range(20, 22)]
    plain, _ = fused_run(no_dropout, split)
    dropped, _ = fused_run(cfgs[:2], split)
    assert all(abs(p.losses[-1] - d.losses[-1]) > 1e-3 for p, d in zip(plain, dropped))


def test_the_rule_fuses_what_may_differ_and_nothing_else():
    base = rule.group_key(config())
    assert base is not None
    for train in [{"lr": 0.1}, {"seed": 5}, {"epochs": 9}, {"steps": 7}, {"beta_1": 0.5}, {"schedule": SCHEDULES[1]},
                  {"model": {"dropout": 0.3, "l2": 0.1}}]:
        assert rule.group_key(config(**train)) == base, train
    for train in [{"optimizer": "sgd"}, {"batch_size": 64}, {"ema": 0.9}, {"loss": "mse"}, {"nesterov": True},
                  {"model": {"hidden": [25]}}, {"model": {"activation": "tanh"}}]:
        assert rule.group_key(config(**train)) != base, train
    assert rule.group_key(config(model={"family": "cnn"})) is None
