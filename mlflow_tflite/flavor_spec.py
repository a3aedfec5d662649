"""What the `tflite` flavor knows about a flatbuffer: validation, tensors, quantization.

Everything here reads the model through a LiteRT interpreter; nothing imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlflow_tflite.convert.facts import model_facts
from mlflow_tflite.convert.schemes import all_schemes, scheme_names
from mlflow_tflite.litert import DEFAULT_DELEGATE, DELEGATES, TensorSpec, TFLiteRunner, tensor_spec

MODEL_FILE = "model.tflite"
# Metadata keys that describe how the model was quantized, copied into the tflite section.
CONVERSION_KEYS = ("recipe", "keep_float")

_CUSTOM_OP = re.compile(r"unresolved custom op: (\w+)")


def invalid_parameter(message: str) -> Exception:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


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


def read_model_bytes(tflite_model: bytes | bytearray | str | Path) -> bytes:
    """The flatbuffer content from bytes or a `.tflite` path.

    Raises:
        MlflowException: the path does not exist, or the value is neither bytes nor a path.
    """
    if isinstance(tflite_model, bytes | bytearray):
        return bytes(tflite_model)
    if isinstance(tflite_model, str | Path):
        path = Path(tflite_model)
        if not path.is_file():
            raise invalid_parameter(f"TFLite model file not found: {str(path)!r}")
        return path.read_bytes()
    raise invalid_parameter(
        "tflite_model must be the flatbuffer as bytes or a path to a .tflite file, "
        f"got {type(tflite_model).__name__}"
    )


def validate_options(num_threads: int | None, delegate: str) -> None:
    """Interpreter options as save_model accepts them.

    Raises:
        MlflowException: threads not a positive integer, or an unknown delegate name.
    """
    if num_threads is not None and (
        isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1
    ):
        raise invalid_parameter(
            f"num_threads must be a positive integer or None, got {num_threads!r}"
        )
    if not isinstance(delegate, str) or (
        delegate not in DELEGATES and not delegate.startswith("external:")
    ):
        raise invalid_parameter(
            f"delegate must be one of {', '.join(DELEGATES)} or external:/path/lib.so, "
            f"got {delegate!r}"
        )


def open_runner(
    content: bytes, delegate: str = DEFAULT_DELEGATE, threads: int | None = None
) -> TFLiteRunner:
    """A runner on an allocated LiteRT interpreter, or an MlflowException that says why not.

    Allocation is what resolves every op, so an unresolved custom op is found here.
    """
    if not content:
        raise invalid_parameter("TFLite model is empty (0 bytes)")
    try:
        return TFLiteRunner(content, delegate=delegate, threads=threads)
    except (ValueError, RuntimeError) as error:
        text = str(error)
        if text.startswith("external delegate library"):
            raise invalid_parameter(text) from None
        if match := _CUSTOM_OP.search(text):
            raise invalid_parameter(
                f"TFLite model uses the custom op {match.group(1)!r}, which LiteRT cannot "
                "resolve; convert without it or register the op in LiteRT"
            ) from error
        if "flatbuffer" in text.lower():
            raise invalid_parameter(
                f"not a TFLite flatbuffer ({len(content)} bytes): the content is corrupt, "
                "truncated or another format"
            ) from error
        raise invalid_parameter(f"LiteRT cannot load the TFLite model: {text.strip()}") from error


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


def infer_quantization(content: bytes) -> str:
    """The quantization scheme that made a flatbuffer, read from its tensor types and ops.

    Each scheme module recognises its own output (`Scheme.recognise`, mutually exclusive
    rules: e.g. int4 weights behind DEQUANTIZE ops are `int4_weight_only`, int16
    activations are `int16x8`); a model no rule claims is reported as `none`.
    """
    facts = model_facts(content)
    return next((s.name for s in all_schemes() if s.recognise(facts)), "none")


def infer_signature(inputs: list[NamedTensor], outputs: list[NamedTensor]):
    """A tensor-based signature with the model's names and shapes (batch -1).

    A quantized tensor appears as float32: the pyfunc takes real values and quantizes
    them by the tensor's scale and zero point, and dequantizes quantized outputs, so the
    signature describes what a caller sends and receives, not the int8 storage type
    (recorded in the MLmodel `tflite` section instead).
    """
    from mlflow.models import ModelSignature
    from mlflow.types import Schema
    from mlflow.types import TensorSpec as MlflowTensorSpec

    def schema(tensors: list[NamedTensor]) -> Schema:
        specs = []
        for tensor in tensors:
            dtype = "float32" if tensor.spec.is_quantized else tensor.spec.dtype
            shape = (-1, *tensor.spec.shape[1:]) if tensor.spec.shape else ()
            specs.append(MlflowTensorSpec(np.dtype(dtype), shape, tensor.name))
        return Schema(specs)

    return ModelSignature(inputs=schema(inputs), outputs=schema(outputs))


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def checked_model_file(model_dir: str | Path, flavor_conf: dict[str, Any]) -> tuple[Path, bytes]:
    """The flavor's `.tflite` in a model directory and its bytes, checked against the
    sha256 its MLmodel file records.

    Raises:
        MlflowException: DATA_LOSS when the file was changed or corrupted after saving.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import DATA_LOSS

    path = Path(model_dir) / flavor_conf.get("data", MODEL_FILE)
    content = read_model_bytes(path)
    expected = flavor_conf.get("sha256")
    if expected is not None and sha256(content) != expected:
        raise MlflowException(
            f"{path} does not match the sha256 recorded in its MLmodel file "
            f"({expected}): the model file was changed or corrupted after it was saved",
            error_code=DATA_LOSS,
        )
    return path, content


def installed_version(distribution: str) -> str | None:
    """A distribution's installed version without importing it (TensorFlow stays unloaded)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def flavor_section(
    content: bytes,
    interpreter: Any,
    model_file: str,
    quantization: str | None,
    num_threads: int | None,
    delegate: str,
    conversion: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The MLmodel `tflite` section for a validated flatbuffer.

    `conversion` may hold `recipe` (the ai-edge-quantizer recipe applied) and
    `keep_float` (the ops left in float), recorded as they are.
    """
    inputs, outputs = named_tensors(interpreter)
    if quantization is None:
        quantization = infer_quantization(content)
    elif quantization not in scheme_names():
        raise invalid_parameter(
            f"metadata['quantization'] must be one of {', '.join(scheme_names())}, "
            f"got {quantization!r}"
        )
    return {
        "data": model_file,
        "sha256": sha256(content),
        "litert_version": installed_version("ai-edge-litert"),
        "tensorflow_version": installed_version("tensorflow"),
        "quantization": quantization,
        "inputs": [t.to_dict() for t in inputs],
        "outputs": [t.to_dict() for t in outputs],
        "interpreter_options": {"num_threads": num_threads, "delegate": delegate},
        **{k: v for k, v in (conversion or {}).items() if k in CONVERSION_KEYS and v},
    }
