"""What loading a saved `tflite` model reads: its file (checked against the recorded
sha256) and a LiteRT runner on it.

Carried inside every saved model (see `flavor.loader`).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from mlflow_tflite.litert import DEFAULT_DELEGATE, TFLiteRunner

MODEL_FILE = "model.tflite"

_CUSTOM_OP = re.compile(r"unresolved custom op: (\w+)")


def invalid_parameter(message: str) -> Exception:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


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
