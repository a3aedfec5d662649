"""The TFLiteConverter engine: a Keras model -> `.tflite` with a converter scheme."""

from __future__ import annotations

import re
from typing import Any

from mlflow_tflite._tf import import_tensorflow
from mlflow_tflite.convert.quiet import quiet
from mlflow_tflite.convert.representative import Representative
from mlflow_tflite.convert.sources import make_converter
from mlflow_tflite.plugins.scheme import Scheme


class ConversionError(RuntimeError):
    """A model could not be converted or quantized; the message is one line with the reason."""


def run_converter(
    model: Any,
    scheme: Scheme,
    cfg: Any,
    data: Representative | None,
    *,
    sparse: bool = False,
    float_nodes: list[str] | None = None,
) -> bytes:
    """Convert a tf_keras model with the settings of a converter scheme.

    Args:
        model: a tf_keras model (plain, stripped, or quantize-wrapped after QAT), or the
            path of a SavedModel directory (a Keras 3 baseline's export).
        scheme: a `converter` engine scheme.
        cfg: the variant's `convert` block.
        data: representative batches (calibrated schemes).
        sparse: add `EXPERIMENTAL_SPARSITY` (pruned weights stored sparse).
        float_nodes: output tensor names of ops to leave in float; applied through the
            QuantizationDebugger's `denylisted_nodes` (calibrated schemes only).

    Raises:
        ConversionError: the converter failed (first informative line of its error).
    """
    tf = import_tensorflow()
    try:
        converter = make_converter(tf, model)
        scheme.configure(converter, tf, cfg, data)
        if sparse:
            converter.optimizations = [
                *converter.optimizations,
                tf.lite.Optimize.EXPERIMENTAL_SPARSITY,
            ]
        with quiet():
            if not float_nodes:
                return bytes(converter.convert())
            # Float ops need the float kernels beside the integer ones.
            converter.target_spec.supported_ops = [
                *converter.target_spec.supported_ops,
                tf.lite.OpsSet.TFLITE_BUILTINS,
            ]
            options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=float_nodes)
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=data, debug_options=options
            )
            return bytes(debugger.get_nondebug_quantized_model())
    except Exception as error:
        raise ConversionError(f"{scheme.name} conversion failed: {_reason(error)}") from error


def _reason(error: BaseException) -> str:
    """The first informative line of a converter error (they can run to pages)."""
    for line in str(error).splitlines():
        # MLIR prefixes each diagnostic with the Python source location that traced the op.
        line = _LOCATION.sub(" ", line).strip()
        if line and not line.startswith(("<unknown>", "Traceback")):
            return line[:300]
    return type(error).__name__


_LOCATION = re.compile(r"\S*:\d+:\d+: (?=error|note|warning)")
