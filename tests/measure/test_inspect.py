from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlflow_tflite.measure.inspect import (
    gpu_compatibility,
    inspect_model,
    parse_gpu_report,
    read_flatbuffer,
)
from tests.helpers import to_tflite
from tests.measure.conftest import PALETTE


def test_sparsity_and_unique_values_of_known_kernels(palette_model: tuple[bytes, float]) -> None:
    model, expected_sparsity = palette_model
    found = inspect_model(model, gpu=False)
    assert found.sparsity == pytest.approx(expected_sparsity)
    assert found.unique_weight_values == len(PALETTE)
    assert {w.unique_values for w in found.weights} == {len(PALETTE)}
    # conv 8x3x3x1, dense 32x288, logits 10x32: biases and shape constants are not weights.
    assert sorted(w.elements for w in found.weights) == [72, 320, 9216]


def test_a_trained_model_is_dense(float_model: bytes) -> None:
    found = inspect_model(float_model, gpu=False)
    assert found.sparsity < 0.01
    assert found.unique_weight_values > 100


def test_int8_kernels_are_counted_per_channel(cnn) -> None:
    model = cnn.__class__.from_config(cnn.get_config())
    for layer in model.layers:
        if getattr(layer, "kernel", None) is not None:
            kernel, *rest = layer.get_weights()
            layer.set_weights([np.resize(PALETTE, kernel.size).reshape(kernel.shape), *rest])
    found = inspect_model(to_tflite(model, "int8", "int8"), gpu=False)
    assert found.unique_weight_values <= len(PALETTE)
    assert found.sparsity == pytest.approx(0.25, abs=0.01)


def test_op_histogram_counts_builtin_ops(float_model: bytes) -> None:
    found = inspect_model(float_model, gpu=False)
    assert found.op_histogram == {"CONV_2D": 1, "FULLY_CONNECTED": 2, "RESHAPE": 1}
    assert found.op_count == 4


def test_full_int8_with_int8_io_is_integer_only(int8_model: bytes) -> None:
    found = inspect_model(int8_model, gpu=False)
    assert found.integer_only and found.float_tensors == []


def test_float_models_and_float_io_int8_models_are_not_integer_only(
    float_model: bytes, float16_model: bytes, cnn
) -> None:
    assert not inspect_model(float_model, gpu=False).integer_only
    assert not inspect_model(float16_model, gpu=False).integer_only
    float_io = inspect_model(to_tflite(cnn, "int8", "float32"), gpu=False)
    assert not float_io.integer_only
    assert float_io.op_histogram["QUANTIZE"] == 1


def test_gpu_report_of_a_plain_cnn_is_compatible(float_model: bytes) -> None:
    found = inspect_model(float_model)
    assert found.gpu_compatible is True and found.gpu_incompatible_ops == []


def test_gpu_report_warnings_name_the_incompatible_ops() -> None:
    report = (
        "Subgraph#0 main(T#0) -> [T#3]\n"
        "  Op#0 CONV_2D(T#0, T#1, T#2) -> [T#3]\n"
        "  Op#1 CUMSUM(T#3, T#4) -> [T#5]\n"
        "GPU COMPATIBILITY WARNING: Not supported op CUMSUM\n"
        "\nGPU COMPATIBILITY WARNING: Subgraph#0 has GPU delegate compatibility issues at "
        "nodes 1 with TFLite runtime version 2.21.0\n"
    )
    assert parse_gpu_report(report) == (False, ["CUMSUM: Not supported op CUMSUM"])


def test_gpu_report_without_a_verdict_is_unknown() -> None:
    assert parse_gpu_report("Your TFLite model has '1' subgraph(s).") == (None, [])


def test_flex_ops_are_gpu_incompatible() -> None:
    from collections import Counter

    ops = Counter({"FlexAsString": 1, "ADD": 1})
    compatible, incompatible = gpu_compatibility(_flex_model(), ops)
    assert compatible is False
    assert incompatible == ["FlexAsString: TensorFlow (Flex) op, not run by the GPU delegate"]


def _flex_model() -> bytes:
    from mlflow_tflite._tf import import_tensorflow

    tf = import_tensorflow()
    fn = tf.function(
        lambda x: tf.strings.to_number(tf.strings.as_string(x)),
        input_signature=[tf.TensorSpec([1, 4], tf.float32)],
        autograph=False,
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS,
        tf.lite.OpsSet.SELECT_TF_OPS,
    ]
    return converter.convert()


def test_a_real_flex_model_is_reported_gpu_incompatible() -> None:
    found = inspect_model(_flex_model())
    assert found.gpu_compatible is False
    assert any(op.startswith("Flex") for op in found.gpu_incompatible_ops)


def test_missing_file_and_non_flatbuffer_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_flatbuffer(tmp_path / "missing.tflite")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a TFLite flatbuffer"):
        read_flatbuffer(junk)


def test_sparse_format_weights_count_their_implicit_zeros(
    sparse_int8_model: tuple[bytes, float],
) -> None:
    model, keras_sparsity = sparse_int8_model
    found = inspect_model(model, gpu=False)
    assert all(w.sparse_format for w in found.weights)
    assert found.op_histogram["DENSIFY"] == 3
    # int8 rounding can only add zeros (tiny weights), never remove them.
    assert keras_sparsity <= found.sparsity <= keras_sparsity + 0.01


def test_int4_kernels_are_unpacked(palette_model: tuple[bytes, float]) -> None:
    from mlflow_tflite.convert.quantizer import quantize, weight_recipe

    model, expected_sparsity = palette_model
    int4 = quantize(model, weight_recipe(4, dynamic=False))
    found = inspect_model(int4, gpu=False)
    assert {w.dtype for w in found.weights} == {"int4"}
    # Zero stays zero under symmetric quantization, and 4 bits hold at most 16 values.
    assert found.sparsity == pytest.approx(expected_sparsity)
    assert 1 < max(w.unique_values for w in found.weights) <= 16
