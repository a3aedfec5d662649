"""A `.tflite` model's outputs on a batch: the first one, all of them, the reference rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlflow_tflite.litert import DEFAULT_DELEGATE
from mlflow_tflite.measure.quality import flat_outputs

Arrays = np.ndarray | list[np.ndarray]


def predict_outputs(
    model: bytes | str | Path,
    x: Arrays,
    delegate: str = DEFAULT_DELEGATE,
    threads: int | None = None,
) -> np.ndarray:
    """The model's first output for a batch, as float32 (integer outputs dequantized).

    Float input to an integer-input model is quantized.
    """
    return predict_all(model, x, delegate, threads)[0]


def reference_outputs(
    model: bytes | str | Path,
    x: Arrays,
    delegate: str = DEFAULT_DELEGATE,
    threads: int | None = None,
) -> np.ndarray:
    """Every output of the model per sample as one float32 row (N, total values): the
    reference (the float model's) that `agreement` and the fidelity metrics compare
    against. For a classifier that is its (N, classes) scores."""
    return flat_outputs(predict_all(model, x, delegate, threads)).astype(np.float32)


def predict_all(
    model: bytes | str | Path,
    x: Arrays,
    delegate: str = DEFAULT_DELEGATE,
    threads: int | None = None,
) -> list[np.ndarray]:
    """Every output of the model for a batch, as float32 (integer outputs dequantized)."""
    from mlflow_tflite.litert import TFLiteRunner

    runner = TFLiteRunner(model, delegate=delegate, threads=threads)
    arrays = list(x) if isinstance(x, list | tuple) else [x]
    return [np.asarray(out, dtype=np.float32) for out in runner.predict(arrays)]
