"""`int8_weight_only`: int8 weights dequantized to float before each op (ai-edge-quantizer)."""

from __future__ import annotations

from typing import Any

from mlflow_tflite.convert.facts import ModelFacts
from mlflow_tflite.convert.quantizer import Recipe, weight_recipe
from mlflow_tflite.plugins.scheme import AI_EDGE_QUANTIZER, Scheme


def recipe(cfg: Any) -> Recipe:
    return weight_recipe(8, dynamic=False)


def recognise(facts: ModelFacts) -> bool:
    return (
        "int8" in facts.weight_types
        and "int4" not in facts.weight_types
        and facts.float_compute
        and facts.dequantizes_weights
    )


SCHEME = Scheme(
    name="int8_weight_only",
    engine=AI_EDGE_QUANTIZER,
    summary="int8 weights, float compute (ai-edge-quantizer weight_only_wi8_afp32)",
    recognise=recognise,
    recipe=recipe,
)
