"""What is inside a `.tflite` file: weights, ops, integer-only, GPU-delegate compatibility.

The flatbuffer is read with LiteRT's generated schema, so this works for any `.tflite`,
needs no TensorFlow and never runs the model.
"""

from __future__ import annotations

import re
import struct
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

# Weight tensors: constant, at least 2-D (so biases, shapes and scalars are left out)
# and at least this many elements (tiny constants are not what compression targets).
MIN_WEIGHT_ELEMENTS = 16
_FLOAT_TYPES = ("FLOAT16", "FLOAT32", "FLOAT64", "BFLOAT16")
_WEIGHT_TYPES = {
    "FLOAT32": np.float32,
    "FLOAT16": np.float16,
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT4": np.int8,  # packed two per byte; unpacked by `_int4_values`
}


@dataclass(frozen=True)
class WeightStats:
    """One constant weight tensor: its zeros and distinct values.

    `unique_values_per_channel` is the most distinct values in one output channel of a
    per-channel-quantized kernel (each channel has its own scale, so a clustered int8
    kernel has <= clusters values per channel but more over the whole tensor); for
    other tensors it equals `unique_values`.
    """

    name: str
    shape: list[int]
    dtype: str
    elements: int
    zeros: int
    unique_values: int
    unique_values_per_channel: int
    sparse_format: bool

    @property
    def sparsity(self) -> float:
        return self.zeros / self.elements if self.elements else 0.0


@dataclass(frozen=True)
class Inspection:
    """Static facts about a model, read from its flatbuffer."""

    weights: list[WeightStats]
    op_histogram: dict[str, int]
    integer_only: bool
    float_tensors: list[str]
    gpu_compatible: bool | None = None
    gpu_incompatible_ops: list[str] = field(default_factory=list)

    @property
    def sparsity(self) -> float:
        """Zeros over all elements of all weight tensors (0.0 when there are none)."""
        total = sum(w.elements for w in self.weights)
        return sum(w.zeros for w in self.weights) / total if total else 0.0

    @property
    def unique_weight_values(self) -> int:
        """The most distinct values any one kernel (channel of a per-channel-quantized
        kernel) has: a clustered model has <= clusters."""
        return max((w.unique_values_per_channel for w in self.weights), default=0)

    @property
    def op_count(self) -> int:
        return sum(self.op_histogram.values())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sparsity"] = self.sparsity
        data["unique_weight_values"] = self.unique_weight_values
        data["op_count"] = self.op_count
        return data


def read_flatbuffer(model: bytes | str | Path) -> bytes:
    """The model's bytes, checked to be a TFLite flatbuffer.

    Raises:
        FileNotFoundError: a path that does not exist.
        ValueError: the content is not a TFLite flatbuffer (no `TFL3` identifier).
    """
    from ai_edge_litert import schema_py_generated as schema

    if isinstance(model, bytes | bytearray):
        content, where = bytes(model), "model content"
    else:
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        content, where = path.read_bytes(), str(path)
    if len(content) < 8 or not schema.Model.ModelBufferHasIdentifier(content, 0):
        raise ValueError(f"{where}: not a TFLite flatbuffer (no TFL3 identifier)")
    return content


@cache
def _enum_names(enum_name: str) -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    enum = getattr(schema, enum_name)
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


def _op_name(code: Any) -> str:
    builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    name = _enum_names("BuiltinOperator").get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM" and code.customCode:
        custom = code.customCode
        return custom.decode() if isinstance(custom, bytes) else str(custom)
    return name


def _tensor_values(tensor: Any, buffers: list, content: bytes) -> np.ndarray | None:
    buffer = buffers[tensor.buffer] if tensor.buffer < len(buffers) else None
    if buffer is None:
        return None
    raw: Any = buffer.data
    if (raw is None or len(raw) == 0) and buffer.offset > 1:  # data stored after the flatbuffer
        raw = np.frombuffer(content, np.uint8, count=buffer.size, offset=buffer.offset)
    if raw is None or len(raw) == 0:
        return None
    return np.asarray(raw, dtype=np.uint8)


def _unique(values: np.ndarray, implicit_zero: bool) -> int:
    found = np.unique(values)
    return int(found.size) + (1 if implicit_zero and not (found == 0).any() else 0)


def _int4_values(data: np.ndarray, elements: int) -> np.ndarray:
    """Signed int4 values packed two per byte, low nibble first (ai-edge-quantizer's layout)."""
    nibbles = np.stack([data & 0x0F, data >> 4], axis=-1).reshape(-1).astype(np.int8)
    return np.where(nibbles > 7, nibbles - 16, nibbles).astype(np.int8)[:elements]


def _weight_stats(tensor: Any, data: np.ndarray, type_name: str) -> WeightStats:
    if type_name == "INT4" and tensor.sparsity is None:
        values = _int4_values(data, int(np.prod([int(d) for d in tensor.shape])))
    else:
        values = data.view(_WEIGHT_TYPES[type_name])
    shape = [int(d) for d in tensor.shape]
    elements = int(np.prod(shape))
    quant = tensor.quantization
    zero_points = np.asarray(
        quant.zeroPoint if quant is not None and quant.zeroPoint is not None else [0]
    )
    # TFLite weight zero points are 0 (symmetric int8); a legacy uint8 tensor has one
    # zero point, and a weight is zero when it dequantizes to zero: q == zero point.
    zero_value = zero_points.flat[0] if zero_points.size else 0
    # A sparse-format tensor stores only its non-zero blocks; the rest are zeros.
    sparse = tensor.sparsity is not None
    implicit = elements - values.size if sparse else 0
    zeros = int(np.count_nonzero(values == zero_value)) + implicit
    unique = _unique(values, implicit > 0)
    per_channel = unique
    axis = int(quant.quantizedDimension) if quant is not None else 0
    scales = quant.scale if quant is not None and quant.scale is not None else []
    if not sparse and len(scales) > 1 and axis < len(shape):
        kernel = values.reshape(shape)
        per_channel = max(
            int(np.unique(np.take(kernel, c, axis=axis)).size) for c in range(shape[axis])
        )
    return WeightStats(
        name=_name(tensor),
        shape=shape,
        dtype=type_name.lower(),
        elements=elements,
        zeros=zeros,
        unique_values=unique,
        unique_values_per_channel=per_channel,
        sparse_format=sparse,
    )


def _name(tensor: Any) -> str:
    return tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)


def inspect_model(model: bytes | str | Path, gpu: bool = True) -> Inspection:
    """Weights, op histogram, integer-only and (when `gpu`) GPU-delegate compatibility.

    `integer_only` is True when no tensor of any subgraph, constant or not, is floating
    point: what integer-only accelerators (Edge TPU, most NPUs) require. A full-int8
    model with float32 I/O is not integer-only (its QUANTIZE/DEQUANTIZE ends are float).

    Raises:
        FileNotFoundError, ValueError: see `read_flatbuffer`.
    """
    from ai_edge_litert import schema_py_generated as schema

    content = read_flatbuffer(model)
    try:
        return _inspect(schema.ModelT.InitFromPackedBuf(content, 0), content, gpu)
    except (struct.error, IndexError, TypeError, UnicodeDecodeError) as error:
        # Past the header, a truncated flatbuffer points outside its own bytes.
        where = "" if isinstance(model, bytes | bytearray) else f"{model}: "
        raise ValueError(f"{where}truncated or corrupt TFLite flatbuffer ({len(content)} "
                         "bytes: its tables point past its end)") from error


def _inspect(parsed: Any, content: bytes, gpu: bool) -> Inspection:
    type_names = _enum_names("TensorType")
    buffers = parsed.buffers or []
    codes = parsed.operatorCodes or []
    ops: Counter[str] = Counter()
    weights: list[WeightStats] = []
    float_tensors: list[str] = []
    for subgraph in parsed.subgraphs or []:
        for op in subgraph.operators or []:
            ops[_op_name(codes[op.opcodeIndex])] += 1
        for tensor in subgraph.tensors or []:
            type_name = type_names.get(int(tensor.type), str(tensor.type))
            name = _name(tensor)
            if type_name in _FLOAT_TYPES:
                float_tensors.append(name)
            shape = [] if tensor.shape is None else list(tensor.shape)
            if (
                type_name in _WEIGHT_TYPES
                and len(shape) >= 2
                and int(np.prod(shape)) >= MIN_WEIGHT_ELEMENTS
                and (data := _tensor_values(tensor, buffers, content)) is not None
            ):
                weights.append(_weight_stats(tensor, data, type_name))
    compatible, incompatible = gpu_compatibility(content, ops) if gpu else (None, [])
    return Inspection(
        weights=weights,
        op_histogram=dict(sorted(ops.items())),
        integer_only=not float_tensors,
        float_tensors=float_tensors[:20],
        gpu_compatible=compatible,
        gpu_incompatible_ops=incompatible,
    )


_OP_LINE = re.compile(r"^\s*Op#\d+\s+([A-Za-z0-9_]+)\(")
_WARNING = "GPU COMPATIBILITY WARNING:"
_COMPATIBLE = re.compile(r"looks compatib\w* with GPU delegate")


def parse_gpu_report(report: str) -> tuple[bool | None, list[str]]:
    """(compatible, incompatible ops) from the model analyzer's text report.

    Each incompatible node is reported as `GPU COMPATIBILITY WARNING: <why>` on the line
    after its `Op#N NAME(...)` line; it is returned as `NAME: <why>`. None when the report
    has neither a warning nor the all-clear line (not a GPU-checked report).
    """
    incompatible: list[str] = []
    last_op = "?"
    for line in report.splitlines():
        if match := _OP_LINE.match(line):
            last_op = match.group(1)
        elif line.startswith(_WARNING) and " has GPU delegate compatibility issues" not in line:
            incompatible.append(f"{last_op}: {line.removeprefix(_WARNING).strip()}")
    if incompatible:
        return False, incompatible
    if _COMPATIBLE.search(report):
        return True, []
    return None, []


def gpu_compatibility(
    content: bytes, ops: Counter[str] | None = None
) -> tuple[bool | None, list[str]]:
    """GPU-delegate compatibility from TFLite's model analyzer, plus Flex ops.

    This is the report of `tf.lite.experimental.Analyzer.analyze(..., gpu_compatibility=True)`,
    taken from the analyzer wrapper that function prints: the text comes back as a string,
    so it works inside Prefect tasks with `log_prints` (which reroute `print`) and in
    threads (where swapping `sys.stdout` would mix outputs), and needs no TensorFlow.
    The analyzer in the pip builds accepts some ops the GPU delegate cannot run; Flex
    (TensorFlow) ops certainly never run there, so they are added as incompatible.
    """
    from ai_edge_litert import _pywrap_analyzer_wrapper as analyzer

    compatible, incompatible = parse_gpu_report(analyzer.ModelAnalyzer(content, False, True))
    flex = sorted(name for name in (ops or {}) if name.startswith("Flex"))
    if flex:
        incompatible += [
            f"{name}: TensorFlow (Flex) op, not run by the GPU delegate" for name in flex
        ]
        compatible = False
    return compatible, incompatible
