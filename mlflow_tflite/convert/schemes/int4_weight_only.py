"""`int4_weight_only`: int4 weights dequantized to float before each op (ai-edge-quantizer)."""

from __future__ import annotations

from typing import Any

from mlflow_tflite.convert.facts import ModelFacts
from mlflow_tflite.convert.quantizer import Recipe, weight_recipe
from mlflow_tflite.plugins.scheme import AI_EDGE_QUANTIZER, Scheme


def recipe(cfg: Any) -> Recipe:
    return weight_recipe(4, dynamic=False)


def recognise(facts: ModelFacts) -> bool:
    return "int4" in facts.weight_types and facts.dequantizes_weights and not facts.blockwise


SCHEME = Scheme(
    name="int4_weight_only",
    engine=AI_EDGE_QUANTIZER,
    summary="int4 weights, float compute (ai-edge-quantizer weight_only_wi4_afp32)",
    recognise=recognise,
    recipe=recipe,
)
