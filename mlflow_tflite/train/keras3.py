"""A Keras 3 `.keras` baseline: load, optionally fine-tune, export as a SavedModel.

TFMOT needs `tf.keras` to be tf_keras (TF_USE_LEGACY_KERAS=1), yet `import keras` still
gives Keras 3, so both live in one process. The Keras 3 model never meets the converter's
`from_keras_model` (which would take it for a tf_keras model): it is exported with
Keras 3's own `model.export(..., format="tf_saved_model")`, and every converter scheme
reads that SavedModel (`TFLiteConverter.from_saved_model`).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from mlflow_tflite._tf import configure_environment
from mlflow_tflite.config import TrainConfig
from mlflow_tflite.data import Dataset
from mlflow_tflite.data.synthetic import InputSpec
from mlflow_tflite.errors import first_line
from mlflow_tflite.measure.quality import class_scores
from mlflow_tflite.train.baseline import ModelError, check_input_shape
from mlflow_tflite.train.fit import (
    Log,
    TrainedBaseline,
    epoch_logger,
    eval_batch,
    history_of,
    training_rate,
)
from mlflow_tflite.train.model_code import code_layers, refusal, refused_by_safe_mode


def import_keras3() -> ModuleType:
    """The Keras 3 package (`keras`), whatever TF_USE_LEGACY_KERAS says about `tf.keras`."""
    configure_environment()
    import keras

    if int(keras.__version__.partition(".")[0]) < 3:
        raise ModelError(f"keras {keras.__version__} is installed; a Keras 3 model needs keras>=3")
    return keras


def load_keras3(path: str | Path, trust_code: bool = False) -> Any:
    """Load a Keras 3 `.keras` file (uncompiled), in Keras safe mode unless `trust_code`
    (`train.trust_model_code`).

    Raises:
        ModelError: Keras 3 cannot load it.
    """
    keras = import_keras3()
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=not trust_code)
    # Keras raises many exception types here; every one means the file cannot be used.
    except Exception as exc:
        if not trust_code and refused_by_safe_mode(exc):
            raise ModelError(refusal(path, code_layers(path) or ["?"])) from None
        raise ModelError(
            f"{path}: Keras 3 could not load it ({first_line(exc, limit=200)})"
        ) from exc
    return model


def input_shape(model: Any) -> tuple[int | None, ...]:
    """One example's input shape (no batch dimension)."""
    return tuple(model.inputs[0].shape[1:])


def input_specs(model: Any) -> list[InputSpec]:
    """Every input: its name (the exported signature's too), shape (no batch) and dtype."""
    return [InputSpec(t.name, tuple(t.shape[1:]), str(t.dtype)) for t in model.inputs]


def output_shapes(model: Any) -> list[tuple[int | None, ...]]:
    """Every output's shape, batch dimension included."""
    return [tuple(output.shape) for output in model.outputs]


def fine_tune(spec: str, dataset: Dataset, config: TrainConfig, log: Log | None = print
              ) -> TrainedBaseline:
    """Load the Keras 3 model, fine-tune it for `train.epochs` with Keras 3 (0: as is), and
    measure its test accuracy when its outputs are class scores of a labelled dataset.

    Returns:
        TrainedBaseline whose `accuracy` is None when the model is judged by fidelity only.

    Raises:
        ModelError: it cannot be loaded, its input does not match the data, or fine-tuning
            was asked of a model whose output is not class scores of the data.
    """
    keras = import_keras3()
    keras.utils.set_random_seed(config.seed)
    model = load_keras3(spec, config.trust_model_code)
    if dataset.labelled:
        if len(model.inputs) != 1:
            raise ModelError(f"{spec}: has {len(model.inputs)} inputs; labelled data feeds "
                             "one (use data.source: synthetic)")
        check_input_shape(input_shape(model), dataset.input_shape, spec)
    scores = dataset.labelled and class_scores(output_shapes(model), dataset.num_classes)
    history: dict[str, list[float]] = {}
    if config.epochs > 0:
        if not scores:
            raise ModelError(
                f"{spec}: train.epochs {config.epochs} fine-tunes on class labels, but the "
                f"outputs {output_shapes(model)} are not scores of the "
                f"{dataset.num_classes} classes; set train.epochs: 0"
            )
        model.compile(
            optimizer=keras.optimizers.Adam(training_rate(keras, config, len(dataset.x_train))),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not _softmax(model)),
            metrics=["accuracy"],
        )
        validation = (dataset.x_val, dataset.y_val) if len(dataset.y_val) else None
        fitted = model.fit(
            dataset.x_train, dataset.y_train, batch_size=config.batch_size,
            epochs=config.epochs, validation_data=validation, shuffle=True, verbose=0,
            callbacks=[epoch_logger(log, config.epochs, keras)] if log is not None else [],
        )
        history = history_of(fitted)
    accuracy = None
    if scores:
        predicted = model.predict(dataset.x_test, batch_size=eval_batch(dataset.x_test),
                                  verbose=0)
        accuracy = float(np.mean(np.argmax(predicted, axis=-1) == dataset.y_test))
    return TrainedBaseline(model, accuracy, history)


def export_saved_model(model: Any, directory: str | Path) -> Path:
    """Export a Keras 3 model as an inference SavedModel the TFLite converter reads."""
    target = Path(directory)
    model.export(str(target), format="tf_saved_model", verbose=False)
    return target


def _softmax(model: Any) -> bool:
    last = model.layers[-1]
    if type(last).__name__ == "Softmax":
        return True
    return getattr(getattr(last, "activation", None), "__name__", "") == "softmax"
