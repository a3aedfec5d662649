"""LiteRT interpreter helpers shared by the flavor and the measurements.

Delegates here are CPU kernel choices, named as users see them:
- `xnnpack`: LiteRT's default (XNNPACK delegate applied automatically),
- `builtin`: builtin kernels without default delegates,
- `reference`: the unoptimised reference kernels,
- `external:/path/lib.so`: an external delegate library.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DELEGATES = ("xnnpack", "builtin", "reference")
# What a model runs on when nobody names a delegate: LiteRT's own default.
DEFAULT_DELEGATE = DELEGATES[0]


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


@dataclass(frozen=True)
class NamedTensor:
    """A model input or output under the name users pass it by.

    `name` is the signature-def name (`image`) when the model has exactly one signature,
    else the tensor name (`serving_default_image:0`), which is always kept in `tensor`.
    """

    name: str
    spec: TensorSpec

    def to_dict(self) -> dict[str, Any]:
        return {**self.spec.to_dict(), "name": self.name, "tensor": self.spec.name}


def named_tensors(interpreter: Any) -> tuple[list[NamedTensor], list[NamedTensor]]:
    """Inputs and outputs in the interpreter's order, named as users pass them."""
    inputs = [tensor_spec(d) for d in interpreter.get_input_details()]
    outputs = [tensor_spec(d) for d in interpreter.get_output_details()]
    names_in: dict[int, str] = {}
    names_out: dict[int, str] = {}
    signatures = interpreter.get_signature_list()
    if len(signatures) == 1:
        runner = interpreter.get_signature_runner(next(iter(signatures)))
        names_in = {int(d["index"]): n for n, d in runner.get_input_details().items()}
        names_out = {int(d["index"]): n for n, d in runner.get_output_details().items()}
    return (
        [NamedTensor(names_in.get(s.index, s.name), s) for s in inputs],
        [NamedTensor(names_out.get(s.index, s.name), s) for s in outputs],
    )


def make_interpreter(
    model: bytes | str | Path,
    delegate: str = DEFAULT_DELEGATE,
    threads: int | None = None,
    preserve_all_tensors: bool = False,
) -> Any:
    """A LiteRT interpreter for a flatbuffer (bytes) or a `.tflite` path, tensors allocated.

    Args:
        model: the flatbuffer content or a path to it.
        delegate: `xnnpack`, `builtin`, `reference` or `external:/path/lib.so`.
        threads: interpreter threads; None lets LiteRT choose.
        preserve_all_tensors: keep every intermediate tensor readable after `invoke`
            (per-layer comparisons; use `builtin`, a delegate computes its ops out of sight).

    Raises:
        ValueError: unknown delegate name.
        RuntimeError / ValueError from LiteRT: the model cannot be loaded or allocated.
    """
    from ai_edge_litert import interpreter as litert

    resolvers = litert.OpResolverType

    kwargs: dict[str, Any] = {"num_threads": threads}
    if preserve_all_tensors:
        kwargs["experimental_preserve_all_tensors"] = True
    if isinstance(model, bytes | bytearray):
        kwargs["model_content"] = bytes(model)
    else:
        kwargs["model_path"] = str(model)
    if delegate == "builtin":
        kwargs["experimental_op_resolver_type"] = resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    elif delegate == "reference":
        kwargs["experimental_op_resolver_type"] = resolvers.BUILTIN_REF
    elif delegate.startswith("external:"):
        kwargs["experimental_delegates"] = [_load_delegate(delegate.removeprefix("external:"))]
        kwargs["experimental_op_resolver_type"] = resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    elif delegate != DEFAULT_DELEGATE:
        raise ValueError(
            f"unknown delegate {delegate!r}; expected one of {', '.join(DELEGATES)} "
            "or external:/path/lib.so"
        )
    with warnings.catch_warnings():
        # LiteRT warns that preserving tensors is for debugging; asking for it is deliberate.
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
        interpreter = litert.Interpreter(**kwargs)
    interpreter.allocate_tensors()
    return interpreter


def _load_delegate(library: str) -> Any:
    """LiteRT's `load_delegate`, failing in one ValueError naming the library.

    LiteRT's Delegate object is half-built when its library does not load, and its
    `__del__` then prints an "Exception ignored" traceback: that noise is swallowed here.
    """
    import gc
    import sys

    from ai_edge_litert import interpreter as litert

    if not Path(library).is_file():
        raise ValueError(f"external delegate library {library}: no such file")
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        try:
            return litert.load_delegate(library)
        except (ValueError, OSError, RuntimeError, AttributeError) as error:
            reason = str(error).strip().splitlines()[0]
            error.__traceback__ = None  # its frames hold the half-built Delegate
        gc.collect()  # which goes now, while its noise is swallowed
    finally:
        sys.unraisablehook = hook
    raise ValueError(f"external delegate library {library} does not load as a LiteRT "
                     f"delegate: {reason}")


def quantize(values: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Float values to the tensor's integer type: q = round(real / scale) + zero_point."""
    info = np.iinfo(spec.dtype)
    q = np.round(np.asarray(values, dtype=np.float32) / spec.scale) + spec.zero_point
    return np.clip(q, info.min, info.max).astype(spec.dtype)


def clipped_count(values: np.ndarray, spec: TensorSpec) -> int:
    """How many float values fall outside what the integer tensor can represent, so
    `quantize` clips them to its end points."""
    info = np.iinfo(spec.dtype)
    q = np.round(np.asarray(values, dtype=np.float32) / spec.scale) + spec.zero_point
    return int(np.count_nonzero((q < info.min) | (q > info.max)))


def dequantize(values: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Integer tensor values to float: real = (q - zero_point) * scale."""
    return ((values.astype(np.float32) - spec.zero_point) * spec.scale).astype(np.float32)


class TFLiteRunner:
    """Runs a `.tflite` model on batches of any size.

    Float input for an integer-quantized input tensor is quantized by the tensor's scale
    and zero point; integer outputs are dequantized when `dequantize_outputs` is set.
    A model with a dynamic batch dimension is resized once per new batch size; a model
    with a fixed batch is invoked in slices of that batch.
    """

    def __init__(
        self,
        model: bytes | str | Path,
        delegate: str = DEFAULT_DELEGATE,
        threads: int | None = None,
        preserve_all_tensors: bool = False,
    ) -> None:
        self.interpreter = make_interpreter(
            model, delegate=delegate, threads=threads, preserve_all_tensors=preserve_all_tensors
        )
        self.inputs = [tensor_spec(d) for d in self.interpreter.get_input_details()]
        self.outputs = [tensor_spec(d) for d in self.interpreter.get_output_details()]
        self._shapes = [list(d["shape"]) for d in self.interpreter.get_input_details()]

    @property
    def fixed_batch(self) -> int | None:
        """The batch the model requires, or None when the batch dimension is dynamic."""
        first = self.inputs[0].shape
        return None if not first or first[0] == -1 else int(first[0])

    def _prepare(self, values: np.ndarray, spec: TensorSpec) -> np.ndarray:
        values = np.asarray(values)
        if spec.is_quantized and np.issubdtype(values.dtype, np.floating):
            return quantize(values, spec)
        return values.astype(spec.dtype, copy=False)

    def _resize(self, arrays: list[np.ndarray]) -> None:
        # By the arrays' own shapes, so dynamic dimensions past the batch (a sequence
        # length) are resized too, not only the batch.
        shapes = [list(a.shape) for a in arrays]
        if shapes == self._shapes:
            return
        for spec, shape in zip(self.inputs, shapes, strict=True):
            self.interpreter.resize_tensor_input(spec.index, shape, strict=False)
        self.interpreter.allocate_tensors()
        self._shapes = shapes

    def _invoke(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        for spec, array in zip(self.inputs, arrays, strict=True):
            self.interpreter.set_tensor(spec.index, array)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(spec.index).copy() for spec in self.outputs]

    def predict(
        self, arrays: list[np.ndarray], dequantize_outputs: bool = True
    ) -> list[np.ndarray]:
        """Outputs (in model output order) for inputs given in model input order.

        Every array must already have the tensor's shape apart from the batch dimension;
        callers validate shapes and report user errors.
        """
        prepared = [self._prepare(a, s) for a, s in zip(arrays, self.inputs, strict=True)]
        batch = int(prepared[0].shape[0]) if prepared[0].ndim else 1
        fixed = self.fixed_batch
        if fixed is None:
            self._resize(prepared)
            results = self._invoke(prepared)
        else:
            chunks: list[list[np.ndarray]] = []
            for start in range(0, batch, fixed):
                piece = [a[start : start + fixed] for a in prepared]
                short = fixed - piece[0].shape[0]
                if short:  # pad the last slice up to the fixed batch, drop the padding after
                    piece = [np.concatenate([p, np.repeat(p[-1:], short, axis=0)]) for p in piece]
                out = self._invoke(piece)
                chunks.append([o[: fixed - short] for o in out])
            results = [np.concatenate(parts) for parts in zip(*chunks, strict=True)]
        if dequantize_outputs:
            results = [
                dequantize(r, s) if s.is_quantized else r
                for r, s in zip(results, self.outputs, strict=True)
            ]
        return results
