"""The three model families of the tutorials, as Keras functional models.

Every model takes raw pixels (N x 28 x 28, values 0-255) and returns logits:
input scaling is the first layer, so a saved model needs nothing else to
predict. Each hidden block is a layer without activation followed by a
separate `Activation` layer, so pre-activations and activations can be read
per layer for histograms, as in the TensorBoard tutorial.
"""

from __future__ import annotations

import keras
from keras import layers

from harness.config.schema import ModelConfig


@keras.saving.register_keras_serializable(package="mnist_harness")
class InputScaling(layers.Layer):
    """Pixels 0-255 to [0, 1] (`unit`) or to {0, 1} (`binary`, rounded)."""

    def __init__(self, mode: str = "unit", **kwargs):
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, x):
        x = keras.ops.cast(x, "float32") / 255.0
        return keras.ops.round(x) if self.mode == "binary" else x

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _initialisers(cfg: ModelConfig):
    if cfg.kernel_init == "truncated_normal":
        kernel = keras.initializers.TruncatedNormal(stddev=cfg.init_stddev)
    elif cfg.kernel_init == "normal":
        kernel = keras.initializers.RandomNormal(stddev=cfg.init_stddev)
    else:
        kernel = cfg.kernel_init
    return {
        "kernel_initializer": kernel,
        "bias_initializer": keras.initializers.Constant(cfg.bias_init),
        "kernel_regularizer": keras.regularizers.L2(cfg.l2) if cfg.l2 else None,
    }


def _dense_block(x, units: int, name: str, cfg: ModelConfig):
    x = layers.Dense(units, name=name, **_initialisers(cfg))(x)
    x = layers.Activation(cfg.activation, name=f"{name}_act")(x)
    return layers.Dropout(cfg.dropout, name=f"{name}_dropout")(x) if cfg.dropout else x


def build(cfg: ModelConfig, scaling: str = "unit") -> keras.Model:
    """The model a config describes, uncompiled, with logits as output."""
    inputs = keras.Input(shape=(28, 28), name="pixels")
    x = InputScaling(scaling, name="scaling")(inputs)
    if cfg.family == "cnn":
        x = layers.Reshape((28, 28, 1), name="image")(x)
        for i, filters in enumerate(cfg.conv_filters, start=1):
            x = layers.Conv2D(filters, cfg.kernel_size, padding="same", name=f"conv{i}", **_initialisers(cfg))(x)
            x = layers.Activation(cfg.activation, name=f"conv{i}_act")(x)
            x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
        x = layers.Flatten(name="flatten")(x)
        x = _dense_block(x, cfg.dense_units, "fc", cfg)
    else:
        x = layers.Flatten(name="flatten")(x)
        if cfg.family == "mlp":
            for i, units in enumerate(cfg.hidden, start=1):
                x = _dense_block(x, units, f"hidden{i}", cfg)
    logits = layers.Dense(10, name="logits", **_initialisers(cfg))(x)
    return keras.Model(inputs, logits, name=cfg.family)


def probed_layers(model: keras.Model) -> list[tuple[str, keras.layers.Layer, keras.layers.Layer | None]]:
    """(name, weighted layer, its activation layer or None) for each Dense/Conv layer."""
    by_name = {layer.name: layer for layer in model.layers}
    return [
        (layer.name, layer, by_name.get(f"{layer.name}_act"))
        for layer in model.layers
        if isinstance(layer, (layers.Dense, layers.Conv2D))
    ]
