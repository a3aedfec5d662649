"""The reference: a bare LiteRT interpreter driven by hand, independent of the flavor."""

from __future__ import annotations

import numpy as np


def raw_predict(content: bytes, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs keyed by signature name for float inputs keyed by signature name.

    Quantized tensors are quantized and dequantized here with the textbook formulas.
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content)
    runner = interpreter.get_signature_runner()
    details, output_details = runner.get_input_details(), runner.get_output_details()
    del runner  # it holds tensor views, and the interpreter refuses to resize while they live
    batch = next(iter(inputs.values())).shape[0]
    for detail in details.values():
        interpreter.resize_tensor_input(detail["index"], [batch, *detail["shape"][1:]])
    interpreter.allocate_tensors()
    for name, detail in details.items():
        value = inputs[name]
        scale, zero_point = detail["quantization"]
        if scale:
            info = np.iinfo(detail["dtype"])
            value = np.clip(np.round(value / scale) + zero_point, info.min, info.max)
        interpreter.set_tensor(detail["index"], value.astype(detail["dtype"]))
    interpreter.invoke()
    outputs = {}
    for name, detail in output_details.items():
        value = interpreter.get_tensor(detail["index"])
        scale, zero_point = detail["quantization"]
        if scale:
            value = (value.astype(np.float32) - zero_point) * scale
        outputs[name] = value
    return outputs
