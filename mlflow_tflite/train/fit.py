"""Train the baseline repeatably, and clone it for every compressed variant."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from mlflow_tflite._tf import import_keras
from mlflow_tflite.config import TrainConfig
from mlflow_tflite.data import Dataset
from mlflow_tflite.errors import raise_if_signalled
from mlflow_tflite.train.baseline import ModelError, build_baseline_model, outputs_probabilities

DEFAULT_LEARNING_RATE = 1e-3
EVAL_BATCH = 256
# An inference batch is bounded by its input's bytes too: 256 digits are 0.8 MB of input,
# 256 images at 224x224x3 are 154 MB, and MobileNetV2 1.0's activations for the 100 test
# images in one batch took its baseline step from 3.5 to 4.3 GB (16 at a time: 3.5).
EVAL_INPUT_BYTES = 8 * 2**20


def eval_batch(x: Any) -> int:
    """The batch size to predict `x` (an array, or a list or dict of them, examples on the
    first axis) in: EVAL_BATCH, or fewer when that many would exceed EVAL_INPUT_BYTES."""
    arrays = x.values() if isinstance(x, dict) else x if isinstance(x, list | tuple) else [x]
    per_example = max(1, sum(np.asarray(a[:1]).nbytes for a in arrays))
    return max(1, min(EVAL_BATCH, EVAL_INPUT_BYTES // per_example))

Log = Callable[[str], None]


@dataclass
class TrainedBaseline:
    """The trained Keras model, its top-1 accuracy on the test split (None for a model
    judged by fidelity only), and per-epoch history."""

    model: Any
    accuracy: float | None
    history: dict[str, list[float]] = field(default_factory=dict)


def compile_baseline(model: Any, learning_rate: Any = DEFAULT_LEARNING_RATE) -> Any:
    """Compile with Adam (a rate or a Keras schedule) and sparse categorical cross-entropy
    (on logits when the model does not end in softmax), reporting accuracy. Returns the
    model."""
    keras = import_keras()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=not outputs_probabilities(model)
        ),
        metrics=["accuracy"],
    )
    return model


def training_rate(keras: ModuleType, config: TrainConfig, samples: int) -> Any:
    """`train.learning_rate`, or its cosine decay to zero over the training steps
    (`train.lr_schedule: cosine`), for the optimizer of `keras` (tf_keras or Keras 3)."""
    if config.lr_schedule == "constant" or config.epochs == 0:
        return config.learning_rate
    steps = config.epochs * math.ceil(samples / config.batch_size)
    return keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=steps)


def train_baseline(
    dataset: Dataset, config: TrainConfig, log: Log | None = print
) -> TrainedBaseline:
    """Build (or load) the `train.model` baseline, train it, and measure it on the test split.

    The seed fixes Python, NumPy and TensorFlow randomness (weights and shuffling), so the
    same config and data train the same model. The model is checked for tfmot before any
    training.

    Args:
        dataset: A prepared dataset.
        config: The validated `train` section.
        log: Receives one line per epoch (`epoch 2/4 loss=... acc=... val_acc=...`);
            None for silence.

    Returns:
        TrainedBaseline(model, accuracy, history).

    Raises:
        ModelError: the model cannot be built or loaded, or tfmot could not wrap it.

    Example:
        >>> trained = train_baseline(prepare_dataset(DataConfig(source="digits")),
        ...                          TrainConfig(epochs=1), log=None)
        >>> 0.0 <= trained.accuracy <= 1.0
        True
    """
    keras = import_keras()
    keras.utils.set_random_seed(config.seed)
    if config.epochs > 0 and not dataset.labelled:
        raise ModelError(f"{config.model}: train.epochs {config.epochs} trains on labels; "
                         f"data.source {dataset.source} has none (set train.epochs: 0)")
    model = build_baseline_model(config.model, dataset.input_shape,
                                 dataset.num_classes if dataset.labelled else None,
                                 config.trust_model_code)
    compile_baseline(model, training_rate(keras, config, len(dataset.x_train)))
    validation = (dataset.x_val, dataset.y_val) if len(dataset.y_val) else None
    callbacks = [epoch_logger(log, config.epochs)] if log is not None else []
    history: dict[str, list[float]] = {}
    if config.epochs > 0:
        fitted = model.fit(
            dataset.x_train,
            dataset.y_train,
            batch_size=config.batch_size,
            epochs=config.epochs,
            validation_data=validation,
            shuffle=True,
            verbose=0,
            callbacks=callbacks,
        )
        history = history_of(fitted)
    accuracy = baseline_accuracy(model, dataset) if dataset.labelled else None
    return TrainedBaseline(model, accuracy, history)


def history_of(fitted: Any) -> dict[str, list[float]]:
    """A Keras `History` as plain floats per metric name."""
    return {name: [float(v) for v in values] for name, values in fitted.history.items()}


def baseline_accuracy(model: Any, dataset: Dataset) -> float:
    """Top-1 accuracy of a Keras model on the test split."""
    scores = model.predict(dataset.x_test, batch_size=eval_batch(dataset.x_test), verbose=0)
    return float(np.mean(np.argmax(scores, axis=-1) == dataset.y_test))


def clone_baseline(model: Any, learning_rate: float = DEFAULT_LEARNING_RATE) -> Any:
    """A fresh, compiled copy of `model` with the same weights.

    tfmot wrappers can modify the model they wrap, so every variant starts from a clone.

    Example:
        >>> copy = clone_baseline(trained.model)
        >>> copy is not trained.model
        True
    """
    keras = import_keras()
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return compile_baseline(copy, learning_rate)


def _epoch_line(epoch: int, epochs: int, logs: dict[str, float], seconds: float) -> str:
    parts = [f"epoch {epoch}/{epochs}"]
    for key, label in (
        ("loss", "loss"),
        ("accuracy", "acc"),
        ("val_loss", "val_loss"),
        ("val_accuracy", "val_acc"),
    ):
        if key in logs:
            parts.append(f"{label}={logs[key]:.4f}")
    parts.append(f"({seconds:.1f}s)")
    return " ".join(parts)


def epoch_logger(log: Log, epochs: int, keras: ModuleType | None = None) -> Any:
    """A Keras callback that sends one line per finished epoch to `log`.

    `keras` is the Keras package whose `fit` will call it: tf_keras by default, Keras 3
    for a Keras 3 model.
    """
    keras = keras or import_keras()

    class EpochLog(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self._start = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            seconds = time.perf_counter() - self._start
            log(_epoch_line(epoch + 1, epochs, logs or {}, seconds))

        def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
            raise_if_signalled()

    return EpochLog()
