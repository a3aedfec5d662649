"""`int4_blockwise`: int4 weights with one scale per block of `convert.block_size` values.

Blockwise scales follow the weights more closely than one scale per channel; LiteRT runs
them in fully-connected ops (dynamic-range kernels), so other ops stay float. In LiteRT
2.3.0 only XNNPACK (the default delegate) computes these ops right: the builtin and
reference kernels give wrong outputs (digits validation accuracy 0.275 and 0.11 against
0.615 on XNNPACK), so serve such a model on XNNPACK.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from mlflow_tflite.convert.facts import ModelFacts
from mlflow_tflite.convert.quantizer import Recipe, weight_recipe
from mlflow_tflite.plugins.scheme import AI_EDGE_QUANTIZER, Scheme
from mlflow_tflite.section import Section


class BlockwiseOptions(Section):
    """`convert.*` keys only `int4_blockwise` reads."""

    block_size: Literal[32, 64, 128, 256] = Field(
        32, description="Weights per quantization scale along the input dimension."
    )


def recipe(cfg: Any) -> Recipe:
    return weight_recipe(4, dynamic=True, granularity=f"BLOCKWISE_{cfg.block_size}")


def recognise(facts: ModelFacts) -> bool:
    return "int4" in facts.weight_types and facts.blockwise


SCHEME = Scheme(
    name="int4_blockwise",
    engine=AI_EDGE_QUANTIZER,
    summary="int4 weights, one scale per block (ai-edge-quantizer dynamic_wi4b<n>_afp32)",
    recognise=recognise,
    recipe=recipe,
    options=BlockwiseOptions,
)
