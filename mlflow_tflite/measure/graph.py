"""The op graph of a LiteRT interpreter and the matching of a float model's layers to a
quantized model's tensors.

A *layer* is one output tensor of one op of the float model, QUANTIZE / DEQUANTIZE
excepted (they only change a tensor's representation). Each is matched to the tensor of
the quantized model that carries the same value:
1. by name: the quantized tensor of the same name and shape, produced by an op of the
   same type, directly or through QUANTIZE / DEQUANTIZE (so the float output of an int8
   model with float I/O, a DEQUANTIZE of the last op, matches the float model's output);
2. otherwise by position: the same output of the k-th op of the same type, if its shape
   is the same. The converter renames tensors where a name is taken (`...1` becomes
   `...2` in float16 models, `:0` becomes `:01` before a DEQUANTIZE, `_int16` in int16x8
   models), and ai-edge-quantizer inserts `_dequant` weight tensors; all keep the op
   order.
Float layers matched by neither rule are left out of the result. Integer tensors are
dequantized, real = (q - zero_point) * scale, per channel along `quantized_dimension` when
there are several scales.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

# Ops that only change a tensor's representation: never a layer.
REPRESENTATION_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})


@dataclass(frozen=True)
class Op:
    """One op of the graph: its execution position, type and tensor indices."""

    position: int
    op: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


class Graph:
    """The ops and tensor details of an interpreter's main subgraph."""

    def __init__(self, interpreter: Any) -> None:
        # `_get_ops_details` is the only op-level view LiteRT's Python API has (its own
        # model analyzer and ai-edge-quantizer's validator read tensors only).
        self.ops = [
            Op(int(d["index"]), d["op_name"], _indices(d["inputs"]), _indices(d["outputs"]))
            for d in interpreter._get_ops_details()
            if d["op_name"] != "DELEGATE"
        ]
        self.tensors = {int(d["index"]): d for d in interpreter.get_tensor_details()}
        self.by_name = {d["name"]: i for i, d in self.tensors.items()}
        self.producer = {t: op for op in self.ops for t in op.outputs}
        self.layers = [op for op in self.ops if op.op not in REPRESENTATION_OPS]
        self.outputs = {int(d["index"]) for d in interpreter.get_output_details()}

    def source_op(self, tensor: int) -> Op | None:
        """The op computing the tensor's value, looking through QUANTIZE / DEQUANTIZE."""
        op = self.producer.get(tensor)
        while op is not None and op.op in REPRESENTATION_OPS:
            op = self.producer.get(op.inputs[0])
        return op

    def shape(self, tensor: int) -> tuple[int, ...]:
        return tuple(int(d) for d in self.tensors[tensor]["shape"])

    def activation_bytes(self) -> int:
        """Bytes of the tensors computed by an op, at the current allocation: what a
        preserve-all-tensors interpreter keeps per invoke (weights excluded)."""
        return sum(
            int(np.prod(self.shape(t))) * np.dtype(self.tensors[t]["dtype"]).itemsize
            for t in self.producer
        )


def _indices(values: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in values if int(v) >= 0)


def match_layers(ref: Graph, quant: Graph) -> list[tuple[Op, int, int]]:
    """(float op, float tensor, quantized tensor) per matched layer, float op order."""
    nth = Counter[str]()
    by_type: dict[str, list[Op]] = {}
    for op in quant.layers:
        by_type.setdefault(op.op, []).append(op)
    matches = []
    for op in ref.layers:
        k = nth[op.op]
        nth[op.op] += 1
        for slot, tensor in enumerate(op.outputs):
            name, shape = ref.tensors[tensor]["name"], ref.shape(tensor)
            candidate = quant.by_name.get(name)
            source = quant.source_op(candidate) if candidate is not None else None
            if not (source and source.op == op.op and quant.shape(candidate) == shape):
                peers = by_type.get(op.op, [])
                peer = peers[k] if k < len(peers) else None
                candidate = peer.outputs[slot] if peer and slot < len(peer.outputs) else None
                if candidate is None or quant.shape(candidate) != shape:
                    continue
            matches.append((op, tensor, candidate))
    return matches


def real_values(values: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Float64 values of a tensor; integer ones dequantized (per channel if several scales)."""
    params = detail.get("quantization_parameters", {})
    scales = np.asarray(params.get("scales", []), dtype=np.float64)
    values = np.asarray(values)
    if not scales.size or not np.issubdtype(values.dtype, np.integer):
        return values.astype(np.float64)
    zero_points = np.asarray(params.get("zero_points", [0]), dtype=np.float64)
    if scales.size > 1:
        shape = [1] * values.ndim
        shape[int(params.get("quantized_dimension", 0))] = -1
        scales, zero_points = scales.reshape(shape), zero_points.reshape(shape)
    return (values.astype(np.float64) - zero_points) * scales
