"""`int16x8`: TFLiteConverter int16 activations with int8 weights, calibrated."""

from __future__ import annotations

from typing import Any

from mlflow_tflite.convert.facts import ModelFacts
from mlflow_tflite.plugins.scheme import CONVERTER, Scheme


def configure(converter: Any, tf: Any, cfg: Any, data: Any) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = data
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
    ]


def recognise(facts: ModelFacts) -> bool:
    return "int16" in facts.int_activations


SCHEME = Scheme(
    name="int16x8",
    engine=CONVERTER,
    summary="int16 activations, int8 weights (TFLiteConverter, calibrated)",
    recognise=recognise,
    configure=configure,
    needs_representative=True,
)
