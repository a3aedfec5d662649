"""What the data step reads from `train.model` before preparing data: how many classes its
output scores (and their names, from a `.tflite` file's metadata), and whether it scales
its own inputs or its metadata says how they must be scaled.

Read once, before any run starts, so a label the model has no output for, or inputs that
would be scaled twice, are found while the data is prepared. A `builtin` model or a
`module:function` builder is built for the data, so it says nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlflow_tflite.config.data import MeanStd
from mlflow_tflite.data import ModelFacts
from mlflow_tflite.train.kinds import KERAS3, SAVED_MODEL, TF_KERAS, TFLITE, baseline_kind

# Layers that scale raw inputs inside the model; found before its first weights.
RESCALING_LAYERS = ("Rescaling", "Normalization")


def model_facts(spec: str, trust_code: bool = False) -> ModelFacts | None:
    """The classes and input scaling `train.model` carries; None for a model built for the
    data (`builtin`, a builder) or one that does not load (its own step reports that).
    """
    path = Path(spec).expanduser()
    if not path.exists():
        return None
    from mlflow_tflite.train.baseline import ModelError

    try:
        kind = baseline_kind(spec)
        if kind == TFLITE:
            return _tflite_facts(path, spec)
        if kind == SAVED_MODEL:
            return _saved_model_facts(path, spec)
        if kind == KERAS3:
            from mlflow_tflite.train.keras3 import load_keras3

            model = load_keras3(path, trust_code)
        else:
            assert kind == TF_KERAS
            from mlflow_tflite.train.baseline import _load_model_file

            model = _load_model_file(path, trust_code)
    except (ModelError, ValueError):
        return None
    shapes = [tuple(output.shape) for output in model.outputs]
    return ModelFacts(spec, _classes(shapes), None, keras_rescaling(model))


def keras_rescaling(model: Any) -> str | None:
    """The `Rescaling`/`Normalization` layer that scales the model's raw input, if any:
    one met before the first layer with weights (nested models searched in order)."""
    for layer in model.layers:
        name = type(layer).__name__
        if name in RESCALING_LAYERS:
            return f"{name} layer {layer.name!r}"
        if hasattr(layer, "layers"):
            if (inner := keras_rescaling(layer)) is not None:
                return inner
            return None
        if layer.weights:
            return None
    return None


def _classes(shapes: list[tuple[int | None, ...]]) -> int | None:
    if len(shapes) != 1 or len(shapes[0]) != 2 or not shapes[0][-1] or shapes[0][-1] < 2:
        return None
    return int(shapes[0][-1])


def _tflite_facts(path: Path, spec: str) -> ModelFacts:
    """Its output's classes, and what its TFLite Metadata says (input normalization, a
    label file: the class names, when it names as many as the output scores)."""
    from mlflow_tflite.litert import TFLiteRunner
    from mlflow_tflite.train.tflite_metadata import read_tflite_metadata

    content = path.read_bytes()
    shapes = [tuple(o.shape) for o in TFLiteRunner(content).outputs]
    classes = _classes(shapes)
    metadata = read_tflite_metadata(content)
    if metadata is None:
        return ModelFacts(spec, classes)
    labels = metadata.labels
    named = labels is not None and len(labels) == classes
    return ModelFacts(spec, classes, labels if named else None,
                      normalization=_normalization(metadata.mean, metadata.std),
                      names_origin=f"{metadata.label_file} in its metadata" if named else None)


def _normalization(mean: tuple[float, ...] | None,
                   std: tuple[float, ...] | None) -> MeanStd | None:
    """The metadata's mean/std as `data.scale` would take them; None when absent or
    unusable (a std of 0: the metadata is only advice)."""
    if not mean or not std:
        return None
    try:
        return MeanStd(mean=list(mean), std=list(std))
    except ValueError:
        return None


def _saved_model_facts(path: Path, spec: str) -> ModelFacts | None:
    from mlflow_tflite._tf import import_tensorflow
    from mlflow_tflite.train.saved_model import SERVING_SIGNATURE

    tf = import_tensorflow()
    try:
        signature = tf.saved_model.load(str(path)).signatures.get(SERVING_SIGNATURE)
    # TensorFlow raises many exception types; the baseline step reports them.
    except Exception:
        return None
    if signature is None:
        return None
    outputs = signature.structured_outputs
    return ModelFacts(spec, _classes([tuple(t.shape) for t in outputs.values()]))
