"""`int4_dynamic`: int4 weights, activations quantized on the fly (ai-edge-quantizer)."""

from __future__ import annotations

from typing import Any

from mlflow_tflite.convert.facts import ModelFacts
from mlflow_tflite.convert.quantizer import Recipe, weight_recipe
from mlflow_tflite.plugins.scheme import AI_EDGE_QUANTIZER, Scheme


def recipe(cfg: Any) -> Recipe:
    return weight_recipe(4, dynamic=True)


def recognise(facts: ModelFacts) -> bool:
    return (
        "int4" in facts.weight_types
        and not facts.dequantizes_weights
        and not facts.blockwise
        and facts.float_compute
    )


SCHEME = Scheme(
    name="int4_dynamic",
    engine=AI_EDGE_QUANTIZER,
    summary="int4 channelwise weights, dynamic-range compute (ai-edge-quantizer dynamic_wi4_afp32)",
    recognise=recognise,
    recipe=recipe,
)
