"""A user baseline (`train.model: tests.flows.models:sine_features`) for flow tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlflow_tflite._tf import import_keras, import_tensorflow

# Module-level: tfmot re-creates Lambda layers from their code, which must find `tf` here.
tf = import_tensorflow()


def sine_features(input_shape: Sequence[int], num_classes: int) -> Any:
    """A small CNN with sinusoidal features: fp32, dynamic and int8 convert, but TFLite has no
    16x8-quantized SIN kernel, so an int16x8 variant of it fails in the converter."""
    keras = import_keras()
    return keras.Sequential(
        [
            keras.layers.Input(tuple(input_shape)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(32),
            keras.layers.Lambda(lambda x: tf.math.sin(x), name="sine"),
            keras.layers.Dense(num_classes),
        ]
    )


def rescaled_cnn(input_shape: Sequence[int], num_classes: int) -> Any:
    """A small CNN that rescales its own inputs first, as MobileNetV3 does: prune and
    cluster wrap it, tfmot's `quantize_model` refuses its `Rescaling` layer (QAT's probe)."""
    keras = import_keras()
    return keras.Sequential(
        [
            keras.layers.Input(tuple(input_shape)),
            keras.layers.Rescaling(1.0, name="rescaling"),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(num_classes),
        ]
    )
