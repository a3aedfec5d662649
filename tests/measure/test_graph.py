"""Matching a float model's layers to a quantized model's tensors; dequantization."""

from __future__ import annotations

import numpy as np

from mlflow_tflite.litert import make_interpreter
from mlflow_tflite.measure.graph import Graph, match_layers, real_values


def _graph(model: bytes) -> Graph:
    return Graph(make_interpreter(model, delegate="builtin", preserve_all_tensors=True))


def test_renamed_tensors_are_matched_by_position_and_the_rest_by_name(
    float_model: bytes, float16_model: bytes
) -> None:
    ref, quant = _graph(float_model), _graph(float16_model)
    pairs = [
        (ref.tensors[t]["name"], quant.tensors[q]["name"]) for _, t, q in match_layers(ref, quant)
    ]
    assert len(pairs) == 4
    conv, *rest = pairs
    # float16 stores its weights as DEQUANTIZE outputs, which take the conv output's name.
    assert conv[0].endswith("ReadVariableOp1") and conv[1].endswith("ReadVariableOp2")
    assert all(a == b for a, b in rest)


def test_the_float_output_of_an_int8_model_is_its_dequantize_output(
    float_model: bytes, cnn
) -> None:
    from tests.helpers import to_tflite

    ref, quant = _graph(float_model), _graph(to_tflite(cnn, "int8"))
    op, tensor, other = match_layers(ref, quant)[-1]
    assert quant.producer[other].op == "DEQUANTIZE" and op.op == "FULLY_CONNECTED"
    assert tensor in ref.outputs and other in quant.outputs


def test_per_channel_tensors_are_dequantized_along_their_axis() -> None:
    detail = {
        "quantization_parameters": {
            "scales": np.array([0.5, 2.0], np.float32),
            "zero_points": np.array([0, 1], np.int32),
            "quantized_dimension": 1,
        }
    }
    values = np.array([[2, 3], [-2, 1]], np.int8)
    assert real_values(values, detail).tolist() == [[1.0, 4.0], [-1.0, 0.0]]


def test_float_tensors_are_returned_as_they_are() -> None:
    values = np.array([0.25, -1.5], np.float32)
    detail = {"quantization_parameters": {"scales": np.array([], np.float32)}}
    assert real_values(values, detail).tolist() == [0.25, -1.5]
