"""What every technique needs to fine-tune: a fresh copy of the baseline, data, compile, fit."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mlflow_tflite._tf import import_keras
from mlflow_tflite.errors import raise_if_signalled

Log = Callable[[str], None]
# Called after every fine-tune epoch with (step, epoch from 1, Keras logs); it may raise to
# stop the variant (the search prunes a trial whose validation accuracy cannot recover).
EpochHook = Callable[[str, int, dict[str, float]], None]


class CompressionError(ValueError):
    """A compression step cannot be applied; the message is one line with the reason."""


class TrainingData(Protocol):
    """The part of `mlflow_tflite.data.Dataset` that fine-tuning uses."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


@dataclass
class FineTune:
    """Shared fine-tuning settings of one variant, and the steps already applied to it.

    Attributes:
        data: training and validation arrays.
        batch_size: fine-tuning batch size (`train.batch_size`).
        seed: seeds weights, shuffling and centroid initialisation (`train.seed`).
        log: receives one line per epoch and per decision.
        applied: technique names applied so far, in order (e.g. `["prune"]` before cluster).
        from_logits: whether the model outputs logits; read from the baseline because
            quantize wrappers hide the final softmax.
        on_epoch: called after each epoch's log line (see EpochHook).
        facts: what the steps decided, for the variant's record (e.g. `prune_layers`).
    """

    data: TrainingData
    batch_size: int
    seed: int
    log: Log = print
    applied: list[str] = field(default_factory=list)
    from_logits: bool = True
    on_epoch: EpochHook | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise CompressionError(f"batch_size should be >= 1 (got {self.batch_size})")
        if len(self.data.x_train) == 0:
            raise CompressionError("the training split is empty; nothing to fine-tune on")

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.data.x_train) / self.batch_size)

    def fit(
        self,
        model: Any,
        *,
        step: str,
        epochs: int,
        learning_rate: float,
        callbacks: list[Any] | None = None,
        extra: Callable[[], str] | None = None,
    ) -> Any:
        """Compile `model` with a fresh Adam and fine-tune it, logging one line per epoch.

        `extra` adds a measurement to each epoch line (e.g. the current sparsity).
        """
        keras = import_keras()
        keras.utils.set_random_seed(self.seed)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=_loss(self.data.y_train, self.from_logits),
            metrics=["accuracy"],
        )

        def on_epoch_end(epoch: int, logs: dict[str, float] | None) -> None:
            logs = logs or {}
            parts = [f"{step}: epoch {epoch + 1}/{epochs}"]
            parts += [f"{key}={logs[key]:.4f}" for key in _SHOWN if key in logs]
            if extra is not None:
                parts.append(extra())
            self.log(" ".join(parts))
            if self.on_epoch is not None:
                self.on_epoch(step, epoch + 1, logs)

        validation = None
        if len(self.data.x_val):
            validation = (self.data.x_val, self.data.y_val)
        with quiet_logs():
            model.fit(
                self.data.x_train,
                self.data.y_train,
                batch_size=self.batch_size,
                epochs=epochs,
                validation_data=validation,
                shuffle=True,
                verbose=0,
                callbacks=[
                    *(callbacks or []),
                    keras.callbacks.LambdaCallback(
                        on_epoch_end=on_epoch_end,
                        on_train_batch_end=lambda batch, logs: raise_if_signalled()),
                ],
            )
        return model


_SHOWN = ("loss", "accuracy", "val_loss", "val_accuracy")


class _ExpectedWarnings(logging.Filter):
    """Drops tfmot's expected warnings, nothing else.

    CQAT trains centroids instead of kernels, so Keras warns on every batch that the
    kernels get no gradients; tfmot warns on the root logger when PCQAT finds no zeros.
    """

    EXPECTED = ("Gradients do not exist for variables", "does not contain zero weights")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in self.EXPECTED)


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Filter tfmot's expected warnings for the duration of a step."""
    expected = _ExpectedWarnings()
    loggers = [logging.getLogger("tensorflow"), logging.getLogger()]
    for logger in loggers:
        logger.addFilter(expected)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(expected)


def _loss(labels: np.ndarray, from_logits: bool) -> Any:
    """Cross-entropy matching the labels (indices or one-hot) and the output."""
    keras = import_keras()
    labels = np.asarray(labels)
    if labels.ndim > 1 and labels.shape[-1] > 1:
        return keras.losses.CategoricalCrossentropy(from_logits=from_logits)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)


def fresh_copy(baseline: Any) -> Any:
    """A copy of the baseline with its own weights: tfmot wrappers may alter what they wrap.

    Raises:
        CompressionError: the baseline is not a model tfmot can wrap (a Keras 3 object, a
            subclassed model), which cloning would otherwise report with a weight dump.
    """
    from mlflow_tflite.train import clone_baseline
    from mlflow_tflite.train.baseline import tfmot_problem

    problem = tfmot_problem(baseline)
    if problem is not None:
        raise CompressionError(f"the baseline: {problem}")
    return clone_baseline(baseline)


def kernel_layers(model: Any) -> list[Any]:
    """Layers with a `kernel` weight (Dense, Conv*), unwrapping tfmot wrappers."""
    found = []
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if hasattr(inner, "kernel"):
            found.append(inner)
    return found


def sparsity(model: Any, layers: set[str] | None = None) -> float:
    """The fraction of exactly-zero kernel weights over all kernels of `model`, or of the
    kernels of the `layers` named (wrapped or not)."""
    zeros = total = 0
    for layer in model.layers:
        if layers is not None and getattr(layer, "layer", layer).name not in layers:
            continue
        for weight in layer.weights:
            if "kernel" in weight.name and "mask" not in weight.name:
                values = weight.numpy()
                zeros += int(np.count_nonzero(values == 0))
                total += values.size
    return zeros / total if total else 0.0
