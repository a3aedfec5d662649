"""What the `tflite` flavor records when it saves a flatbuffer: validated options, the
quantization scheme, the signature and the MLmodel `tflite` section.

Everything here reads the model through a LiteRT interpreter; nothing imports TensorFlow.
Loading needs none of it (see `flavor.loader`, carried with every model).
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import numpy as np

from mlflow_tflite.convert.facts import model_facts
from mlflow_tflite.flavor.loader.load import invalid_parameter, sha256
from mlflow_tflite.litert import DELEGATES, NamedTensor, named_tensors
from mlflow_tflite.plugins.scheme import all_schemes, scheme_names

# Metadata keys that describe how the model was quantized, copied into the tflite section.
CONVERSION_KEYS = ("recipe", "keep_float")


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
