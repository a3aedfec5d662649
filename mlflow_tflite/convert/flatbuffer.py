"""A published float `.tflite` made readable for ai-edge-quantizer, and what it changed.

ai-edge-quantizer 0.10.0 reads an op's type from `OperatorCode.builtin_code` only and
quantizes float32 weights only, so two common kinds of float file come back unchanged:
- files from older converters keep the op code in `deprecated_builtin_code` (int8) and
  leave `builtin_code` at 0 (ADD): every op looks like an ADD. TFLite's own readers take
  the larger of the two fields; `normalise` writes that into `builtin_code` (and the
  deprecated field as the converter writes it today: the code, or the placeholder 127).
- float16-stored models keep their weights as float16 constants behind DEQUANTIZE ops.
  `normalise` stores those constants as float32 and drops their DEQUANTIZE ops, so the
  model is what a float32 conversion would have written.

    from mlflow_tflite.convert.flatbuffer import normalise, quantized_weights
    fixed = normalise(content)             # fixed.flatbuffer, fixed.opcodes, fixed.expanded
    quantized_weights(fixed.flatbuffer, int8_model)   # (quantized, of)

Read and written with LiteRT's flatbuffer tools (no TensorFlow).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

FLOAT16 = "float16"
FLOAT32 = "float32"
# What the converter writes into `deprecated_builtin_code` for codes it cannot hold (int8).
PLACEHOLDER_CODE = 127


@dataclass(frozen=True)
class Normalised:
    """A float model ai-edge-quantizer reads as TFLite does.

    Attributes:
        flatbuffer: the model (the input bytes themselves when nothing changed).
        opcodes: operator codes moved from the deprecated field into `builtin_code`.
        expanded: float16 weight tensors now stored as float32 (their DEQUANTIZE dropped).
    """

    flatbuffer: bytes
    opcodes: int = 0
    expanded: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.opcodes or self.expanded)


def normalise(content: bytes) -> Normalised:
    """Op codes in `builtin_code` and float16-stored weights as float32 (see module doc).

    Raises:
        ValueError: not a TFLite flatbuffer.
    """
    from ai_edge_litert.tools import flatbuffer_utils

    try:
        model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    except Exception as error:  # the generated reader raises anything on garbage
        raise ValueError(f"not a TFLite flatbuffer ({type(error).__name__})") from None
    opcodes = _fix_opcodes(model)
    expanded = sum(_expand_float16(model, index) for index in range(len(model.subgraphs or [])))
    if not (opcodes or expanded):
        return Normalised(bytes(content))
    return Normalised(bytes(flatbuffer_utils.convert_object_to_bytearray(model)), opcodes, expanded)


def _fix_opcodes(model: Any) -> int:
    moved = 0
    for code in model.operatorCodes or []:
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        moved += builtin != code.builtinCode
        code.builtinCode = builtin
        code.deprecatedBuiltinCode = min(builtin, PLACEHOLDER_CODE)
    return moved


def _expand_float16(model: Any, subgraph_index: int) -> int:
    """Store the subgraph's float16 weights behind a DEQUANTIZE as float32; drop the op."""
    from ai_edge_litert import schema_py_generated as schema

    subgraph = model.subgraphs[subgraph_index]
    tensors, buffers = subgraph.tensors or [], model.buffers or []
    dequantize = {
        i for i, code in enumerate(model.operatorCodes or [])
        if code.builtinCode == schema.BuiltinOperator.DEQUANTIZE
    }
    replaced: dict[int, int] = {}
    kept_ops = []
    converted: set[int] = set()
    for op in subgraph.operators or []:
        source = op.inputs[0] if op.opcodeIndex in dequantize and op.inputs else -1
        tensor = tensors[source] if source >= 0 else None
        if (tensor is None or tensor.type != schema.TensorType.FLOAT16
                or _data(buffers, tensor.buffer) is None):
            kept_ops.append(op)
            continue
        if tensor.buffer not in converted:
            half = np.frombuffer(bytes(_data(buffers, tensor.buffer)), dtype="<f2")
            buffers[tensor.buffer].data = np.frombuffer(
                half.astype("<f4").tobytes(), dtype=np.uint8
            )
            converted.add(tensor.buffer)
        tensor.type = schema.TensorType.FLOAT32
        replaced[op.outputs[0]] = source
    if not replaced:
        return 0
    subgraph.operators = kept_ops
    _drop_tensors(model, subgraph_index, replaced)
    return len(replaced)


def _data(buffers: list, index: int) -> Any:
    buffer = buffers[index] if 0 < index < len(buffers) else None
    data = None if buffer is None else buffer.data
    return data if data is not None and len(data) else None


def _drop_tensors(model: Any, subgraph_index: int, replaced: dict[int, int]) -> None:
    """Point every use of a replaced tensor at its replacement, then remove the replaced
    tensors and renumber the rest (ops, subgraph inputs/outputs, signatures)."""
    subgraph = model.subgraphs[subgraph_index]
    gone = set(replaced)
    new_index: dict[int, int] = {}
    for old in range(len(subgraph.tensors)):
        if old not in gone:
            new_index[old] = len(new_index)

    def remap(indices: Any) -> list[int] | None:
        if indices is None:
            return None
        return [i if i < 0 else new_index[replaced.get(int(i), int(i))] for i in indices]

    for op in subgraph.operators or []:
        op.inputs, op.outputs = remap(op.inputs), remap(op.outputs)
        op.intermediates = remap(op.intermediates)
    subgraph.inputs, subgraph.outputs = remap(subgraph.inputs), remap(subgraph.outputs)
    subgraph.tensors = [t for i, t in enumerate(subgraph.tensors) if i not in gone]
    for signature in model.signatureDefs or []:
        if signature.subgraphIndex != subgraph_index:
            continue
        for entry in (signature.inputs or []) + (signature.outputs or []):
            entry.tensorIndex = remap([entry.tensorIndex])[0]


def weights_storage(content: bytes) -> str:
    """`float16` when the model's float weights are stored as float16, else `float32`."""
    from mlflow_tflite.convert.facts import model_facts

    return FLOAT16 if FLOAT16 in model_facts(content).weight_types else FLOAT32


def float_weights(content: bytes) -> Counter[str]:
    """Float32 constant tensors of two or more dimensions (kernels, tables), counted by
    the op that reads them: the weights a weight quantization scheme is for."""
    from ai_edge_litert import schema_py_generated as schema

    from mlflow_tflite.convert.facts import enum_names, is_constant

    model = schema.ModelT.InitFromPackedBuf(content, 0)
    builtins = enum_names("BuiltinOperator")
    codes, buffers = model.operatorCodes or [], model.buffers or []
    found: Counter[str] = Counter()
    for subgraph in model.subgraphs or []:
        tensors = subgraph.tensors or []
        readers: dict[int, str] = {}
        for op in subgraph.operators or []:
            code = codes[op.opcodeIndex]
            name = builtins.get(max(int(code.builtinCode), int(code.deprecatedBuiltinCode)), "")
            for i in op.inputs if op.inputs is not None else []:
                readers.setdefault(int(i), name)
        for index, tensor in enumerate(tensors):
            shape = tensor.shape if tensor.shape is not None else []
            if (tensor.type == schema.TensorType.FLOAT32 and len(shape) >= 2
                    and index in readers and is_constant(tensor, buffers)):
                found[readers[index]] += 1
    return found


def quantized_weights(float_model: bytes, quantized_model: bytes) -> tuple[int, int]:
    """(weights quantized, float weights of the float model): how many of `float_weights`
    no longer are float32 constants in `quantized_model`."""
    total = sum(float_weights(float_model).values())
    left = sum(float_weights(quantized_model).values())
    return max(total - left, 0), total


def describe_weights(content: bytes) -> str:
    """`81 weight tensors (CONV_2D 52, FULLY_CONNECTED 1, ...)`: the float weights by op."""
    found = float_weights(content)
    ops = ", ".join(f"{op or '?'} {n}" for op, n in found.most_common())
    return f"{sum(found.values())} weight tensors" + (f" ({ops})" if ops else "")
