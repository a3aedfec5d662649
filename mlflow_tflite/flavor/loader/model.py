"""The model object `mlflow_tflite.load_model` returns: a LiteRT interpreter that predicts.

Input is checked here, before it reaches the interpreter, so a wrong shape or dtype, or a
NaN or infinite value, is an `MlflowException(INVALID_PARAMETER_VALUE)` naming the input
(HTTP 400 from `mlflow models serve`), never a LiteRT error, a crash or a confident answer
to garbage. Float values outside what an integer-quantized input can represent are clipped
to its range; each predict counts them (`TFLiteModel.clipped`, `clipped_total`) and logs a
warning.

Carried inside every saved model (see `flavor.loader`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from mlflow_tflite.litert import DEFAULT_DELEGATE, NamedTensor, clipped_count, named_tensors

from .load import invalid_parameter, open_runner

logger = logging.getLogger(__name__)


def _shape_text(shape: list[int] | tuple[int, ...]) -> str:
    return "(" + ", ".join("batch" if i == 0 else str(d) for i, d in enumerate(shape)) + ")"


class TFLiteModel:
    """A loaded `.tflite` model.

    `predict` takes real values: float input for an integer-quantized tensor is quantized by
    its scale and zero point, and quantized outputs are dequantized. Integer input for a
    quantized tensor is taken as already quantized. Any batch size works.

    Attributes:
        input_details / output_details: one dict per tensor in model order with `name` (the
            name `predict` uses), `tensor` (LiteRT's tensor name), `shape` (-1 for a dynamic
            batch), `dtype`, `scale` and `zero_point`.
        quantization: the scheme recorded at save time (a name of
            `mlflow_tflite.convert.schemes.scheme_names()`), or None if unknown.
        clipped: per input name, how many float values of the calling thread's last
            `predict` lay outside the quantized input's range and were clipped to it (empty:
            none). Per thread, so concurrent callers (the scoring server) each read their own.
        clipped_total: the same counts summed over every `predict` since loading.

    Example:
        >>> model = mlflow_tflite.load_model("models:/digits@champion")
        >>> model.predict(images)  # (n, 8, 8, 1) float32 -> (n, 10) float32
    """

    def __init__(
        self,
        content: bytes,
        delegate: str = DEFAULT_DELEGATE,
        num_threads: int | None = None,
        quantization: str | None = None,
    ) -> None:
        self._runner = open_runner(content, delegate=delegate, threads=num_threads)
        self._inputs, self._outputs = named_tensors(self._runner.interpreter)
        # One interpreter is not safe to invoke from two threads (the scoring server may);
        # the lock also guards the running totals.
        self._lock = threading.Lock()
        self._last = threading.local()
        self._clipped_total: dict[str, int] = {}
        self.quantization = quantization
        self.delegate = delegate
        self.num_threads = num_threads

    @property
    def clipped(self) -> dict[str, int]:
        return dict(getattr(self._last, "clipped", {}))

    @property
    def clipped_total(self) -> dict[str, int]:
        with self._lock:
            return dict(self._clipped_total)

    @property
    def input_details(self) -> list[dict[str, Any]]:
        return [t.to_dict() for t in self._inputs]

    @property
    def output_details(self) -> list[dict[str, Any]]:
        return [t.to_dict() for t in self._outputs]

    @property
    def interpreter(self) -> Any:
        """The underlying LiteRT interpreter."""
        return self._runner.interpreter

    def predict(self, data: Any) -> np.ndarray | dict[str, np.ndarray]:
        """Outputs for a batch of inputs.

        Args:
            data: a numpy array (single-input models), a dict of arrays keyed by input
                name, or a pandas DataFrame: a column per input name holding one flattened
                (or nested) tensor per row, or, for a single-input model, one row per
                example with the tensor flattened across the columns.

        Returns:
            A numpy array for a single-output model, else a dict keyed by output name.

        Raises:
            MlflowException: a missing input, a wrong shape or dtype, or unequal batches.
        """
        arrays = [self._check(t, a) for t, a in zip(self._inputs, self._collect(data), strict=True)]
        batches = {a.shape[0] for a in arrays}
        if len(batches) > 1:
            sizes = ", ".join(
                f"{t.name}: {a.shape[0]}" for t, a in zip(self._inputs, arrays, strict=True)
            )
            raise invalid_parameter(f"inputs have different batch sizes ({sizes})")
        if batches == {0}:
            raise invalid_parameter("the batch is empty: pass at least one example")
        clipped = self._clipped(arrays)
        with self._lock:
            results = self._runner.predict(arrays)
            for name, count in clipped.items():
                self._clipped_total[name] = self._clipped_total.get(name, 0) + count
        self._last.clipped = clipped
        if len(results) == 1:
            return results[0]
        return {t.name: r for t, r in zip(self._outputs, results, strict=True)}

    def _collect(self, data: Any) -> list[Any]:
        import pandas as pd

        names = [t.name for t in self._inputs]
        if isinstance(data, pd.DataFrame):
            return self._from_dataframe(data)
        if isinstance(data, dict):
            missing = [n for n in names if n not in data]
            if missing:
                raise invalid_parameter(
                    f"missing input(s) {missing}; the model takes {self._describe_inputs()}"
                )
            return [data[n] for n in names]
        if len(names) != 1:
            raise invalid_parameter(
                f"this model has {len(names)} inputs, so pass a dict or DataFrame keyed by "
                f"input name: {self._describe_inputs()}"
            )
        if isinstance(data, np.ndarray | list | tuple):
            return [data]
        raise invalid_parameter(
            "input must be a numpy array, a dict of arrays or a pandas DataFrame, "
            f"got {type(data).__name__}"
        )

    def _from_dataframe(self, frame: Any) -> list[Any]:
        names = [t.name for t in self._inputs]
        if all(n in frame.columns for n in names):
            arrays = []
            for tensor in self._inputs:
                rows = [np.asarray(v) for v in frame[tensor.name]]
                try:
                    stacked = np.stack(rows) if rows else np.empty((0,))
                except ValueError as error:
                    raise invalid_parameter(
                        f"input {tensor.name!r}: rows of the DataFrame column have different "
                        f"sizes; expected shape {_shape_text(tensor.spec.shape)}"
                    ) from error
                arrays.append(self._unflatten(tensor, stacked))
            return arrays
        if len(names) == 1:
            return [self._unflatten(self._inputs[0], frame.to_numpy())]
        raise invalid_parameter(
            f"the DataFrame needs a column per input ({', '.join(names)}); "
            f"got columns {list(frame.columns)}"
        )

    @staticmethod
    def _unflatten(tensor: NamedTensor, rows: np.ndarray) -> np.ndarray:
        """Rows holding a flattened example each, reshaped to the tensor's shape."""
        inner = tensor.spec.shape[1:]
        if rows.ndim == 2 and -1 not in inner and len(inner) != 1:
            size = int(np.prod(inner))
            if rows.shape[1] == size:
                return rows.reshape(-1, *inner)
        return rows

    def _check(self, tensor: NamedTensor, value: Any) -> np.ndarray:
        spec = tensor.spec
        try:
            array = np.asarray(value)
        except ValueError as error:  # ragged nested lists
            raise invalid_parameter(
                f"input {tensor.name!r} is not a rectangular array; "
                f"expected shape {_shape_text(spec.shape)}"
            ) from error
        expected = _shape_text(spec.shape)
        inner = spec.shape[1:]
        if array.ndim != len(spec.shape) or any(
            d != -1 and d != a for d, a in zip(inner, array.shape[1:], strict=True)
        ):
            raise invalid_parameter(
                f"input {tensor.name!r} has shape {tuple(array.shape)}; expected {expected} "
                f"(dtype {self._input_dtype(spec)})"
            )
        kind = array.dtype.kind
        if kind not in "biuf":
            raise invalid_parameter(
                f"input {tensor.name!r} has dtype {array.dtype}; expected "
                f"{self._input_dtype(spec)} numbers of shape {expected}"
            )
        if kind == "f" and not np.all(np.isfinite(array)):
            bad = int(np.count_nonzero(~np.isfinite(array)))
            raise invalid_parameter(
                f"input {tensor.name!r} has {bad} NaN or infinite value(s); expected finite "
                "numbers"
            )
        integer_tensor = np.issubdtype(np.dtype(spec.dtype), np.integer)
        fractional = kind == "f" and not np.all(np.mod(array, 1) == 0)
        if integer_tensor and not spec.is_quantized and fractional:
            raise invalid_parameter(
                f"input {tensor.name!r} has non-integer values; expected {spec.dtype}"
            )
        if spec.is_quantized and kind in "iu":
            info = np.iinfo(spec.dtype)
            if array.size and (array.min() < info.min or array.max() > info.max):
                raise invalid_parameter(
                    f"input {tensor.name!r}: integer input is taken as quantized {spec.dtype} "
                    f"and must lie in [{info.min}, {info.max}]; pass floats to have them "
                    "quantized"
                )
        return array

    def _clipped(self, arrays: list[np.ndarray]) -> dict[str, int]:
        clipped = {}
        for tensor, array in zip(self._inputs, arrays, strict=True):
            if not (tensor.spec.is_quantized and array.dtype.kind == "f"):
                continue
            if count := clipped_count(array, tensor.spec):
                clipped[tensor.name] = count
                info = np.iinfo(tensor.spec.dtype)
                low, high = ((v - tensor.spec.zero_point) * tensor.spec.scale
                             for v in (info.min, info.max))
                logger.warning(
                    "input %r: %d of %d values lie outside [%.4g, %.4g], the range of the "
                    "quantized %s input, and were clipped to it", tensor.name, count,
                    array.size, low, high, tensor.spec.dtype)
        return clipped

    @staticmethod
    def _input_dtype(spec: Any) -> str:
        return f"float32 or {spec.dtype}" if spec.is_quantized else spec.dtype

    def _describe_inputs(self) -> str:
        return ", ".join(f"{t.name} {_shape_text(t.spec.shape)}" for t in self._inputs)
