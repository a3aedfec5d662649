"""`none`: a float32 model, no quantization."""

from __future__ import annotations

from typing import Any

from mlflow_tflite.convert.facts import ModelFacts
from mlflow_tflite.plugins.scheme import CONVERTER, Scheme


def configure(converter: Any, tf: Any, cfg: Any, data: Any) -> None:
    converter.optimizations = []


def recognise(facts: ModelFacts) -> bool:
    quantized = {"int4", "int8", "uint8", "int16", "float16"}
    return not facts.weight_types & quantized and facts.float_compute


SCHEME = Scheme(
    name="none",
    engine=CONVERTER,
    summary="float32 weights and activations",
    recognise=recognise,
    configure=configure,
)
