"""A generic TensorFlow SavedModel baseline (`tf.saved_model.save`, not Keras).

Nothing trains it and no TFMOT technique applies (they wrap Keras layers): its serving
signature is what the TFLite converter reads (`TFLiteConverter.from_saved_model`), so every
converter scheme applies, and the ai-edge-quantizer schemes start from its float
`.tflite`. `tf.saved_model.load` rebuilds the graph from the file's protocol buffers; it
runs no Python from the model directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlflow_tflite.convert.sources import SERVING_SIGNATURE
from mlflow_tflite.data import Dataset
from mlflow_tflite.data.synthetic import InputSpec
from mlflow_tflite.errors import first_line
from mlflow_tflite.measure.quality import class_scores
from mlflow_tflite.train.baseline import ModelError, check_input_shape


@dataclass(frozen=True)
class SavedModelBaseline:
    """The float `.tflite` of the serving signature and its test accuracy (None: judged
    by fidelity only)."""

    flatbuffer: bytes
    accuracy: float | None


def signature_inputs(path: str | Path) -> list[InputSpec]:
    """The serving signature's inputs (name, shape without batch, dtype), by name.

    Raises:
        ModelError: TensorFlow cannot load it, or it has no `serving_default` signature.
    """
    from mlflow_tflite._tf import import_tensorflow

    tf = import_tensorflow()
    try:
        loaded = tf.saved_model.load(str(path))
    # TensorFlow raises many exception types for a damaged or foreign directory.
    except Exception as exc:
        raise ModelError(
            f"{path}: TensorFlow cannot load the SavedModel ({first_line(exc, limit=200)})"
        ) from exc
    signature = loaded.signatures.get(SERVING_SIGNATURE)
    if signature is None:
        raise ModelError(
            f"{path}: no {SERVING_SIGNATURE} signature (has {sorted(loaded.signatures) or 'none'}"
            "); save it with tf.saved_model.save(module, path, signatures=...) or give "
            "__call__ an input_signature"
        )
    specs = signature.structured_input_signature[1]
    return [InputSpec(name, tuple(spec.shape[1:]), np.dtype(spec.dtype.as_numpy_dtype).name)
            for name, spec in sorted(specs.items())]


def load_saved_model_baseline(path: str | Path, dataset: Dataset) -> SavedModelBaseline:
    """Convert the serving signature to a float `.tflite` and, when its output is class
    scores of a labelled dataset, measure its test accuracy.

    Raises:
        ModelError: it cannot be loaded or converted, or its input does not match the data.
    """
    from mlflow_tflite.config import ConvertConfig
    from mlflow_tflite.convert import ConversionError, convert_model
    from mlflow_tflite.litert import TFLiteRunner
    from mlflow_tflite.measure import predict_outputs

    inputs = signature_inputs(path)
    if dataset.labelled:
        if len(inputs) != 1:
            raise ModelError(f"{path}: has {len(inputs)} inputs; labelled data feeds one "
                             "(use data.source: synthetic)")
        check_input_shape(inputs[0].shape, dataset.input_shape, str(path))
    try:
        content = convert_model(str(Path(path).resolve()), ConvertConfig(quantization="none"),
                                None)
    except ConversionError as error:
        raise ModelError(f"{path}: {error}") from error
    shapes = [tuple(spec.shape) for spec in TFLiteRunner(content).outputs]
    accuracy = None
    if dataset.labelled and class_scores(shapes, dataset.num_classes):
        scores = predict_outputs(content, dataset.x_test)
        accuracy = float(np.mean(np.argmax(scores, axis=-1) == dataset.y_test))
    return SavedModelBaseline(content, accuracy)
