"""LiteRT interpreter helpers shared by the flavor and the measurements.

Delegates here are CPU kernel choices, named as users see them:
- `xnnpack`: LiteRT's default (XNNPACK delegate applied automatically),
- `builtin`: builtin kernels without default delegates,
- `reference`: the unoptimised reference kernels,
- `external:/path/lib.so`: an external delegate library.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DELEGATES = ("xnnpack", "builtin", "reference")


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor of a model, as the MLmodel file records it."""

    name: str
    index: int
    shape: list[int]
    dtype: str
    scale: float
    zero_point: int

    @property
    def is_quantized(self) -> bool:
        return self.dtype in ("int8", "uint8", "int16") and self.scale != 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": self.shape,
            "dtype": self.dtype,
            "scale": self.scale,
            "zero_point": self.zero_point,
        }


def tensor_spec(detail: dict[str, Any]) -> TensorSpec:
    """A TensorSpec from an interpreter's input/output detail dict."""
    scale, zero_point = detail.get("quantization", (0.0, 0))
    # shape_signature keeps -1 for dynamic dimensions (the batch); shape has them as 1.
    shape = detail.get("shape_signature", detail["shape"])
    return TensorSpec(
        name=detail["name"],
        index=int(detail["index"]),
        shape=[int(d) for d in shape],
        dtype=np.dtype(detail["dtype"]).name,
        scale=float(scale),
        zero_point=int(zero_point),
    )


def make_interpreter(
    model: bytes | str | Path,
    delegate: str = "xnnpack",
    threads: int | None = None,
) -> Any:
    """A LiteRT interpreter for a flatbuffer (bytes) or a `.tflite` path, tensors allocated.

    Args:
        model: the flatbuffer content or a path to it.
        delegate: `xnnpack`, `builtin`, `reference` or `external:/path/lib.so`.
        threads: interpreter threads; None lets LiteRT choose.

    Raises:
        ValueError: unknown delegate name.
        RuntimeError / ValueError from LiteRT: the model cannot be loaded or allocated.
    """
    from ai_edge_litert import interpreter as litert

    resolvers = litert.OpResolverType

    kwargs: dict[str, Any] = {"num_threads": threads}
    if isinstance(model, bytes | bytearray):
        kwargs["model_content"] = bytes(model)
    else:
        kwargs["model_path"] = str(model)
    if delegate == "builtin":
        kwargs["experimental_op_resolver_type"] = resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    elif delegate == "reference":
        kwargs["experimental_op_resolver_type"] = resolvers.BUILTIN_REF
    elif delegate.startswith("external:"):
        library = delegate.removeprefix("external:")
        kwargs["experimental_delegates"] = [litert.load_delegate(library)]
        kwargs["experimental_op_resolver_type"] = resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    elif delegate != "xnnpack":
        raise ValueError(
            f"unknown delegate {delegate!r}; expected one of {', '.join(DELEGATES)} "
            "or external:/path/lib.so"
        )
    interpreter = litert.Interpreter(**kwargs)
    interpreter.allocate_tensors()
    return interpreter


def quantize(values: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Float values to the tensor's integer type: q = round(real / scale) + zero_point."""
    info = np.iinfo(spec.dtype)
    q = np.round(np.asarray(values, dtype=np.float32) / spec.scale) + spec.zero_point
    return np.clip(q, info.min, info.max).astype(spec.dtype)


def dequantize(values: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Integer tensor values to float: real = (q - zero_point) * scale."""
    return ((values.astype(np.float32) - spec.zero_point) * spec.scale).astype(np.float32)
