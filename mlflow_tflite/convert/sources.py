"""What the converter starts from: a tf_keras model, a SavedModel directory (a Keras 3
baseline's export or a generic `tf.saved_model.save` export, converted from its serving
signature) or a float `.tflite` flatbuffer (a `.tflite` baseline, which the TFLite
converter cannot read: `none` is the flatbuffer itself)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# A model given to `convert_model`: a tf_keras model, the path of a SavedModel
# directory, or a float `.tflite` as bytes.
ModelSource = Any
# The signature `tf.saved_model.save` and Keras 3's `export` write for inference.
SERVING_SIGNATURE = "serving_default"


def is_flatbuffer(model: ModelSource) -> bool:
    """Whether `model` is a `.tflite` flatbuffer (bytes) rather than something to convert."""
    return isinstance(model, bytes | bytearray)


def make_converter(tf: Any, model: ModelSource) -> Any:
    """A TFLiteConverter for a tf_keras model or a SavedModel directory path."""
    if isinstance(model, str | Path):
        return tf.lite.TFLiteConverter.from_saved_model(str(model),
                                                        signature_keys=[SERVING_SIGNATURE])
    return tf.lite.TFLiteConverter.from_keras_model(model)
