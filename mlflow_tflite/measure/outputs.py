"""A `.tflite` model's outputs on a batch: the first one, all of them, the reference rows;
its inputs fed by name and its outputs named.

Several inputs travel as one structured array (a field per input, named as the model's
signature names it: what `data.source: synthetic` writes for a multi-input model), so a
dataset stays one array per split; `model_inputs` splits it in the model's input order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlflow_tflite.litert import DEFAULT_DELEGATE
from mlflow_tflite.measure.quality import flat_outputs

Arrays = np.ndarray | list[np.ndarray]
# Activation bytes one invoke may hold (a float MobileNetV2 at 224x224 computes about
# 26 MB a sample: 4 samples an invoke), and the most samples an invoke takes.
PREDICT_BYTES = 128 * 2**20
MAX_CHUNK = 1024


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
    """Every output of the model for a batch, as float32 (integer outputs dequantized).

    A large model predicts in chunks of `chunk_size` samples, so memory grows with its
    activations for one chunk, not with the number of samples.
    """
    from mlflow_tflite.litert import TFLiteRunner

    runner = TFLiteRunner(model, delegate=delegate, threads=threads)
    arrays = model_inputs(runner.interpreter, x)
    step = (chunk_size(runner.interpreter) if runner.fixed_batch is None
            else max(len(arrays[0]), 1))
    parts = [runner.predict([a[start : start + step] for a in arrays])
             for start in range(0, max(len(arrays[0]), 1), step)]
    return [np.concatenate(outs).astype(np.float32, copy=False) for outs in zip(*parts,
                                                                              strict=True)]


def chunk_size(interpreter: Any) -> int:
    """Samples per invoke: as many as keep the activations (as allocated for one sample)
    within PREDICT_BYTES."""
    from mlflow_tflite.measure.graph import Graph

    per_sample = Graph(interpreter).activation_bytes()
    return max(1, min(MAX_CHUNK, PREDICT_BYTES // max(per_sample, 1)))


def io_names(interpreter: Any, role: str) -> list[str]:
    """The model's input (`role` `inputs`) or output (`outputs`) names in tensor order, as
    the flavor names them: the signature's names (`logits`, `score`) where it has one."""
    from mlflow_tflite.litert import named_tensors

    inputs, outputs = named_tensors(interpreter)
    return [t.name for t in (inputs if role == "inputs" else outputs)]


def model_inputs(interpreter: Any, x: Arrays) -> list[np.ndarray]:
    """One array per model input, in the model's input order: a structured array's
    fields matched by name (`io_names`), else in field order; a list as given.

    Raises:
        ValueError: the fields are not the model's input names and differ in number.
    """
    if isinstance(x, list | tuple):
        return list(x)
    fields = x.dtype.names
    if not fields:
        return [x]
    names = io_names(interpreter, "inputs")
    if set(names) == set(fields):
        return [x[name] for name in names]
    if len(names) != len(fields):
        raise ValueError(f"inputs {list(fields)} do not match the model's inputs {names}")
    return [x[name] for name in fields]
