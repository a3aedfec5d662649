"""Published float `.tflite` files ai-edge-quantizer would return unchanged: op codes in
the deprecated field (older converters) and float16-stored weights. Built here from a
real conversion; real LiteRT and real ai-edge-quantizer."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_tflite.config import ConvertConfig
from mlflow_tflite.convert import ConversionError, convert_variant
from mlflow_tflite.convert.facts import model_facts
from mlflow_tflite.convert.flatbuffer import (
    normalise,
    quantized_weights,
    weights_storage,
)
from mlflow_tflite.convert.quantizer import quantize, weight_recipe
from mlflow_tflite.measure.outputs import predict_all
from mlflow_tflite.measure.quality import output_snr_db
from tests.helpers import digits, old_style_tflite, tiny_cnn, to_tflite

AEQ_SCHEMES = ("int4_weight_only", "int8_weight_only", "int4_dynamic", "int4_blockwise")
# Size of each scheme's output over the float32 model's, at most (3 weight tensors; the
# tiny model's graph and biases stay, so the ratios are below the 4x/8x of weights alone).
MAX_SHARE = {"int8_weight_only": 0.35, "int4_weight_only": 0.25, "int4_dynamic": 0.25,
             "int4_blockwise": 0.25}


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    cnn = tiny_cnn()
    float32 = to_tflite(cnn)
    return {"float32": float32, "old": old_style_tflite(float32),
            "float16": to_tflite(cnn, "float16")}


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return digits()[0][:64]


def test_the_quantizer_alone_returns_both_kinds_unchanged(models: dict[str, bytes]) -> None:
    # The bug this module is for: every op read as ADD, or no float32 weight to quantize.
    for kind in ("old", "float16"):
        result = quantize(models[kind], weight_recipe(8, dynamic=False))
        assert "int8" not in model_facts(result).weight_types, kind
        assert quantized_weights(models[kind], result)[0] == 0, kind


def test_old_style_op_codes_are_moved_into_builtin_code(
    models: dict[str, bytes], x: np.ndarray
) -> None:
    fixed = normalise(models["old"])
    assert fixed.opcodes == 3 and fixed.expanded == 0  # CONV_2D, RESHAPE, FULLY_CONNECTED
    assert model_facts(fixed.flatbuffer).ops == model_facts(models["float32"]).ops
    np.testing.assert_array_equal(predict_all(fixed.flatbuffer, x)[0],
                                  predict_all(models["float32"], x)[0])
    assert normalise(models["float32"]).flatbuffer == models["float32"]  # nothing to do


def test_float16_weights_are_stored_as_float32_without_their_dequantize_ops(
    models: dict[str, bytes], x: np.ndarray
) -> None:
    assert weights_storage(models["float16"]) == "float16"
    assert weights_storage(models["float32"]) == "float32"
    fixed = normalise(models["float16"])
    assert fixed.expanded == 6 and fixed.opcodes == 0  # 3 kernels, 3 biases
    facts = model_facts(fixed.flatbuffer)
    assert "float16" not in facts.weight_types and "DEQUANTIZE" not in facts.ops
    assert abs(len(fixed.flatbuffer) - len(models["float32"])) < 256
    # float16 -> float32 is exact, so the model computes what the float16-stored one did.
    np.testing.assert_array_equal(predict_all(fixed.flatbuffer, x)[0],
                                  predict_all(models["float16"], x)[0])


@pytest.mark.parametrize("kind", ["old", "float16"])
@pytest.mark.parametrize("scheme", AEQ_SCHEMES)
def test_every_quantizer_scheme_quantizes_both_kinds(
    scheme: str, kind: str, models: dict[str, bytes], x: np.ndarray
) -> None:
    given = models[kind]
    conversion = convert_variant(given, ConvertConfig(quantization=scheme))
    done, total = conversion.quantized_weights
    # Blockwise int4 quantizes the fully-connected kernels only (LiteRT runs it there).
    assert total == 3 and done == (2 if scheme == "int4_blockwise" else 3)
    assert conversion.normalised == ({"opcodes": 3} if kind == "old"
                                     else {"float16_weights": 6})
    assert conversion.metadata()["quantized_weights"] == [done, total]
    assert len(conversion.flatbuffer) < MAX_SHARE[scheme] * len(models["float32"])
    # Against the file given: a float16-stored file is half the size to begin with.
    assert len(conversion.flatbuffer) < len(given) * (0.7 if kind == "float16" else 0.35)
    reference = predict_all(models["float32"], x)[0]
    snr = output_snr_db(predict_all(conversion.flatbuffer, x)[0], reference)
    assert 10 < snr < 80, snr


def test_a_scheme_that_quantizes_no_weight_is_an_error(models: dict[str, bytes]) -> None:
    cfg = ConvertConfig(quantization="int8_weight_only", keep_float=[".*"])
    with pytest.raises(ConversionError) as error:
        convert_variant(models["old"], cfg)
    assert str(error.value) == (
        "int8_weight_only quantized 0 of 3 weight tensors: ai-edge-quantizer left every one "
        "in float (with convert.keep_float); the model holds 3 weight tensors "
        "(FULLY_CONNECTED 2, CONV_2D 1)")
