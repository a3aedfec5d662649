"""A float `.tflite` baseline from any converter (litert-torch, JAX, TensorFlow, ...).

Nothing trains it: it is the float model every variant is measured against, the `none`
variant is the file itself, and the ai-edge-quantizer schemes start from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlflow_tflite.data import Dataset
from mlflow_tflite.data.synthetic import InputSpec
from mlflow_tflite.errors import first_line
from mlflow_tflite.measure.quality import class_scores
from mlflow_tflite.train.baseline import ModelError, check_input_shape


@dataclass(frozen=True)
class TfliteBaseline:
    """The float flatbuffer, its test accuracy (None: judged by fidelity only)."""

    flatbuffer: bytes
    accuracy: float | None


def read_float_tflite(path: str | Path) -> bytes:
    """The bytes of a float `.tflite`, checked by loading it in LiteRT.

    Raises:
        ModelError: missing, not loadable, or not a float model (a quantized input or a
            non-float32 output: give the float export; the variants quantize it).
    """
    from mlflow_tflite.litert import TFLiteRunner

    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    content = path.read_bytes()
    try:
        runner = TFLiteRunner(content)
    # LiteRT raises ValueError/RuntimeError for bad files and unresolved custom ops.
    except Exception as exc:
        raise ModelError(
            f"{path}: LiteRT cannot load it ({first_line(exc, limit=200)})"
        ) from exc
    # Integer inputs that are not quantized (token ids, indices) are part of a float model.
    for role, spec in [("input", s) for s in runner.inputs] + [("output", s)
                                                               for s in runner.outputs]:
        if spec.is_quantized or (role == "output" and spec.dtype != "float32"):
            raise ModelError(
                f"{path}: {role} {spec.name} is {spec.dtype}, not a float model; give the "
                "float .tflite (the variants quantize it)"
            )
    return content


def tflite_inputs(path: str | Path) -> list[InputSpec]:
    """Every input of a float `.tflite`: its name, one example's shape (no batch) and dtype.

    Raises:
        ModelError: as `read_float_tflite`.
    """
    from mlflow_tflite.litert import TFLiteRunner
    from mlflow_tflite.measure.outputs import io_names

    runner = TFLiteRunner(read_float_tflite(path))
    names = io_names(runner.interpreter, "inputs")
    return [InputSpec(name, tuple(int(d) for d in spec.shape[1:]), spec.dtype)
            for name, spec in zip(names, runner.inputs, strict=True)]


def load_tflite_baseline(path: str | Path, dataset: Dataset) -> TfliteBaseline:
    """Read the float `.tflite` and, when its output is class scores of a labelled dataset,
    its accuracy on the test split.

    Raises:
        ModelError: as `read_float_tflite`, or its input does not match the data.
    """
    from mlflow_tflite.litert import TFLiteRunner
    from mlflow_tflite.measure import predict_outputs

    content = read_float_tflite(path)
    runner = TFLiteRunner(content)
    if dataset.labelled:
        if len(runner.inputs) != 1:
            raise ModelError(f"{path}: has {len(runner.inputs)} inputs; labelled data feeds "
                             "one (use data.source: synthetic)")
        check_input_shape(runner.inputs[0].shape[1:], dataset.input_shape, str(path))
    shapes = [tuple(spec.shape) for spec in runner.outputs]
    accuracy = None
    if dataset.labelled and class_scores(shapes, dataset.num_classes):
        scores = predict_outputs(content, dataset.x_test)
        accuracy = float(np.mean(np.argmax(scores, axis=-1) == dataset.y_test))
    return TfliteBaseline(content, accuracy)
