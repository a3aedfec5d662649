"""A trained baseline and its dataset for compression and conversion tests (built once)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from mlflow_tflite._tf import import_keras
from mlflow_tflite.config.train import TrainConfig
from mlflow_tflite.data.dataset import Dataset
from tests.helpers import digits

# 1,400 training samples at batch 64: 22 steps per epoch, far below tfmot's default pruning
# frequency of 100 steps, so the tests also show that short fine-tunes reach their target.
TRAIN = TrainConfig(epochs=1, batch_size=64, seed=0)
# The pruning layer policy that prunes every kernel of `baseline()` (by default its first
# conv and its 640-weight logits stay dense), for tests that check every kernel.
PRUNE_ALL = {"first_conv": True, "min_weights": 0}


@lru_cache(maxsize=1)
def digits_dataset() -> Dataset:
    """scikit-learn's 8x8 digits split 1400 / 200 / rest."""
    x, y = digits()
    return Dataset(
        x_train=x[:1400],
        y_train=y[:1400],
        x_val=x[1400:1600],
        y_val=y[1400:1600],
        x_test=x[1600:],
        y_test=y[1600:],
        class_names=tuple(str(i) for i in range(10)),
        source="digits",
    )


@lru_cache(maxsize=1)
def baseline() -> Any:
    """Conv2D(8) -> Dense(64) -> Dense(10) logits, trained one epoch.

    Dense(64) has 18,432 weights: enough for sparsity and cluster counts to mean something
    and above the 1,024-weight threshold under which dynamic-range quantization keeps
    float weights.
    """
    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.layers.Input((8, 8, 1), name="image"),
            keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
            keras.layers.Flatten(),
            # Named layers: auto names depend on how many models the process built before.
            keras.layers.Dense(64, activation="relu", name="dense"),
            keras.layers.Dense(10, name="logits"),
        ]
    )
    data = digits_dataset()
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"]
    )
    model.fit(data.x_train, data.y_train, epochs=1, batch_size=64, verbose=0)
    return model


def weights_of(model: Any) -> list[np.ndarray]:
    return [w.copy() for w in model.get_weights()]
