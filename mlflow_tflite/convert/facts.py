"""What a converted model's tensors and ops say about how it was quantized.

Read from the flatbuffer with LiteRT's generated schema (no TensorFlow, no interpreter):
the interpreter reports int4 tensors as int8 and adds scratch tensors of hybrid kernels,
both of which would blur the schemes apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

# Integer activation types: a model computing in them is statically quantized.
INT_ACTIVATIONS = frozenset({"int8", "uint8", "int16"})
# schema.QuantizationDetails.BlockwiseQuantization
_BLOCKWISE = 2


@dataclass(frozen=True)
class ModelFacts:
    """Tensor types and ops of one model.

    Attributes:
        weight_types: lower-case types of constant tensors (`int4`, `int8`, `float16`, ...).
        activation_types: types of tensors computed by an op.
        ops: builtin op names (`CONV_2D`, `DEQUANTIZE`, ...).
        blockwise: some tensor has blockwise quantization parameters.
    """

    weight_types: frozenset[str]
    activation_types: frozenset[str]
    ops: frozenset[str]
    blockwise: bool

    @property
    def int_activations(self) -> frozenset[str]:
        return self.activation_types & INT_ACTIVATIONS

    @property
    def float_compute(self) -> bool:
        """Every computed tensor is floating point (weight-only or dynamic range)."""
        return not self.int_activations

    @property
    def dequantizes_weights(self) -> bool:
        """Integer weights are turned back into float before a float op (weight-only)."""
        return "DEQUANTIZE" in self.ops


@cache
def enum_names(enum_name: str) -> dict[int, str]:
    """Value -> name of one of the LiteRT schema's enums (`BuiltinOperator`, ...)."""
    from ai_edge_litert import schema_py_generated as schema

    enum = getattr(schema, enum_name)
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


def model_facts(content: bytes) -> ModelFacts:
    """The facts of a TFLite flatbuffer (all subgraphs)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(content, 0)
    types, builtins = enum_names("TensorType"), enum_names("BuiltinOperator")
    buffers = model.buffers or []
    codes = model.operatorCodes or []
    weights: set[str] = set()
    computed: set[str] = set()
    ops: set[str] = set()
    blockwise = False
    for subgraph in model.subgraphs or []:
        produced = {i for op in subgraph.operators or [] for i in (op.outputs or [])}
        for op in subgraph.operators or []:
            code = codes[op.opcodeIndex]
            ops.add(builtins.get(max(int(code.builtinCode), int(code.deprecatedBuiltinCode)), ""))
        for index, tensor in enumerate(subgraph.tensors or []):
            name = types.get(int(tensor.type), str(tensor.type)).lower()
            if is_constant(tensor, buffers):
                weights.add(name)
            elif index in produced:
                computed.add(name)
            quant = tensor.quantization
            if quant is not None and quant.detailsType == _BLOCKWISE:
                blockwise = True
    return ModelFacts(frozenset(weights), frozenset(computed), frozenset(ops), blockwise)


@dataclass(frozen=True)
class ModelOp:
    """One op of a model, named as ai-edge-quantizer and the converter's denylist name it.

    Attributes:
        op: builtin op name (`FULLY_CONNECTED`).
        outputs: its output tensor names (the converter's node names).
        weights: names of its constant inputs (they carry the Keras layer name even when
            the output is the model's `StatefulPartitionedCall:0`).
    """

    op: str
    outputs: tuple[str, ...]
    weights: tuple[str, ...]

    @property
    def scope(self) -> str:
        """ai-edge-quantizer's op scope: the output names joined by `;`, plus `;`."""
        return ";".join(self.outputs) + ";" if self.outputs else ""


def model_ops(content: bytes) -> list[ModelOp]:
    """The ops of the first subgraph, in execution order."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(content, 0)
    builtins = enum_names("BuiltinOperator")
    codes = model.operatorCodes or []
    subgraph = (model.subgraphs or [None])[0]
    if subgraph is None:
        return []
    tensors = subgraph.tensors or []
    buffers = model.buffers or []

    def names(indices: Any, constant: bool = False) -> tuple[str, ...]:
        found = [
            tensors[i]
            for i in (indices if indices is not None else [])
            if i >= 0 and (not constant or is_constant(tensors[i], buffers))
        ]
        return tuple(_text(t.name) for t in found if t.name)

    ops = []
    for op in subgraph.operators or []:
        code = codes[op.opcodeIndex]
        name = builtins.get(max(int(code.builtinCode), int(code.deprecatedBuiltinCode)), "")
        ops.append(ModelOp(name, names(op.outputs), names(op.inputs, constant=True)))
    return ops


def is_constant(tensor: Any, buffers: list) -> bool:
    """Whether a `TensorT` holds data in the model (a weight), not a computed value."""
    buffer = buffers[tensor.buffer] if 0 < tensor.buffer < len(buffers) else None
    return buffer is not None and (
        (buffer.data is not None and len(buffer.data) > 0) or buffer.offset > 1
    )


def _text(name: Any) -> str:
    return name.decode() if isinstance(name, bytes) else str(name)
