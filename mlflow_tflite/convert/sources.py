"""What the converter starts from: a tf_keras model, a SavedModel directory (a Keras 3
baseline's export) or a float `.tflite` file (which only `none` can take as it is)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlflow_tflite.train.kinds import TFLITE_SUFFIX

# A model given to `convert_model`: a tf_keras model, or the path of a SavedModel
# directory or of a float `.tflite` file.
ModelSource = Any


def float_tflite(model: ModelSource) -> Path | None:
    """The path when `model` is a `.tflite` file, else None."""
    if isinstance(model, str | Path) and Path(model).suffix == TFLITE_SUFFIX:
        return Path(model)
    return None


def make_converter(tf: Any, model: ModelSource) -> Any:
    """A TFLiteConverter for a tf_keras model or a SavedModel directory path."""
    if isinstance(model, str | Path):
        return tf.lite.TFLiteConverter.from_saved_model(str(model))
    return tf.lite.TFLiteConverter.from_keras_model(model)
