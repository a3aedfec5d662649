"""`int8`: TFLiteConverter full-integer quantization, calibrated on sample inputs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from mlflow_tflite.convert.facts import ModelFacts
from mlflow_tflite.plugins.scheme import CONVERTER, Scheme
from mlflow_tflite.section import Section


class Int8Options(Section):
    """`convert.*` keys only `int8` reads."""

    io_type: Literal["float32", "int8", "uint8"] = Field(
        "float32", description="Input/output type of an int8 model."
    )


def configure(converter: Any, tf: Any, cfg: Any, data: Any) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = data
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    io_type = getattr(tf, cfg.io_type)
    converter.inference_input_type = io_type
    converter.inference_output_type = io_type


def recognise(facts: ModelFacts) -> bool:
    return bool(facts.int_activations) and "int16" not in facts.int_activations


SCHEME = Scheme(
    name="int8",
    engine=CONVERTER,
    summary="int8 weights and activations (TFLiteConverter, calibrated)",
    recognise=recognise,
    configure=configure,
    options=Int8Options,
    needs_representative=True,
    denylist=True,
)
