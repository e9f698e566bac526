"""The bare Keras baseline both overhead benchmarks compare with: the same ML work, no instrumentation."""

from __future__ import annotations

from pathlib import Path

import keras

from harness.training import data, models, optim


def train_bare(cfg, mnist: data.Mnist, model_path: Path) -> None:
    """Build, compile, `fit` with validation, predict the test set and save the model, as a trial does."""
    split = data.split(mnist, cfg.data.validation, cfg.data.limit, cfg.data.test_limit)
    keras.utils.set_random_seed(cfg.train.seed)
    model = models.build(cfg.model, cfg.data.scaling)
    steps = optim.compile_model(model, cfg.train, len(split.x_train))
    model.fit(split.x_train, split.y_train, batch_size=cfg.train.batch_size,
              epochs=optim.epochs_to_run(cfg.train, steps), validation_data=(split.x_val, split.y_val), verbose=0)
    model.predict(split.x_test, batch_size=1000, verbose=0)
    model.save(model_path)
