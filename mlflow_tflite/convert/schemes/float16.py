"""`float16`: TFLiteConverter float16 weights."""

from __future__ import annotations

from typing import Any

from mlflow_tflite.convert.facts import ModelFacts
from mlflow_tflite.plugins.scheme import CONVERTER, Scheme


def configure(converter: Any, tf: Any, cfg: Any, data: Any) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


def recognise(facts: ModelFacts) -> bool:
    # Blockwise int4 stores float16 scales; those models have int4 weights too.
    integer = {"int4", "int8", "uint8", "int16"}
    return (
        "float16" in facts.weight_types
        and not facts.weight_types & integer
        and facts.float_compute
    )


SCHEME = Scheme(
    name="float16",
    engine=CONVERTER,
    summary="float16 weights, float32 compute (TFLiteConverter)",
    recognise=recognise,
    configure=configure,
)
