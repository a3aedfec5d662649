"""Tiny model builders for `train.model: module:function` tests, good and bad."""

from __future__ import annotations

from typing import Any

from mlflow_tflite._tf import import_keras


def small_model(input_shape: tuple[int, ...], num_classes: int) -> Any:
    """A functional tf_keras model that outputs logits."""
    keras = import_keras()
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="small_model")


def subclassed_model(input_shape: tuple[int, ...], num_classes: int) -> Any:
    keras = import_keras()

    class Subclassed(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.flatten = keras.layers.Flatten()
            self.dense = keras.layers.Dense(num_classes)

        def call(self, inputs: Any) -> Any:
            return self.dense(self.flatten(inputs))

    model = Subclassed()
    model.build((None, *input_shape))
    return model


def keras3_model(input_shape: tuple[int, ...], num_classes: int) -> Any:
    import keras

    return keras.Sequential(
        [keras.Input(input_shape), keras.layers.Flatten(), keras.layers.Dense(num_classes)]
    )


def no_input_model(input_shape: tuple[int, ...], num_classes: int) -> Any:
    keras = import_keras()
    return keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(num_classes)])


def wrong_input_model(input_shape: tuple[int, ...], num_classes: int) -> Any:
    return small_model((input_shape[0] + 1, *input_shape[1:]), num_classes)


def wrong_output_model(input_shape: tuple[int, ...], num_classes: int) -> Any:
    return small_model(input_shape, num_classes + 1)


def not_a_model(input_shape: tuple[int, ...], num_classes: int) -> Any:
    return "model"


def failing_builder(input_shape: tuple[int, ...], num_classes: int) -> Any:
    raise RuntimeError("out of ideas")


NOT_CALLABLE = 3
