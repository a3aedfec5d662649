"""`dynamic`: TFLiteConverter dynamic-range quantization (int8 weights, float I/O)."""

from __future__ import annotations

from typing import Any

from mlflow_tflite.convert.facts import ModelFacts
from mlflow_tflite.plugins.scheme import CONVERTER, Scheme


def configure(converter: Any, tf: Any, cfg: Any, data: Any) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]


def recognise(facts: ModelFacts) -> bool:
    # Hybrid kernels read the int8 weights directly; no DEQUANTIZE op in between.
    return (
        "int8" in facts.weight_types
        and "int4" not in facts.weight_types
        and facts.float_compute
        and not facts.dequantizes_weights
    )


SCHEME = Scheme(
    name="dynamic",
    engine=CONVERTER,
    summary="int8 weights, activations quantized on the fly (TFLiteConverter)",
    recognise=recognise,
    configure=configure,
)
