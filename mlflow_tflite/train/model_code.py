"""Model files that carry Python code, found before any work.

A `Lambda` layer saved by Keras holds its function as Python bytecode, which runs on
this machine when the file is loaded: inside a flow that may hold registry and store
credentials. So every loader uses Keras safe mode (which refuses that bytecode) unless
`train.trust_model_code: true` says the user wrote the model and trusts it; this module
reads the file's config (no TensorFlow) so the refusal comes while the params are checked.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TRUST_KEY = "train.trust_model_code"
# In Keras' words for a layer its safe mode refused ("... you can pass `safe_mode=False`").
_SAFE_MODE_REFUSAL = "safe_mode"
# A tf_keras SavedModel keeps each layer's config as JSON inside keras_metadata.pb.
_SAVED_MODEL_METADATA = "keras_metadata.pb"
_LAMBDA_IN_METADATA = re.compile(rb'"class_name": "Lambda", "config": \{"name": "([^"]+)"')


def code_layers(path: str | Path) -> list[str]:
    """Names of the layers of a model file whose Python code would run on loading (Lambda
    layers holding bytecode); [] for a file that holds none or is not a Keras file."""
    path = Path(path).expanduser()
    try:
        if path.is_dir():
            metadata = path / _SAVED_MODEL_METADATA
            if not metadata.is_file():
                return []
            # The model's config and each layer's node repeat a layer: once per name.
            found = _LAMBDA_IN_METADATA.findall(metadata.read_bytes())
            return list(dict.fromkeys(name.decode() for name in found))
        if path.suffix == ".keras":
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
        elif path.suffix in (".h5", ".hdf5"):
            config = _h5_config(path)
        else:
            return []
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return []  # unreadable: the loader reports what is wrong with it
    return list(dict.fromkeys(_lambda_layers(config)))


def _h5_config(path: Path) -> Any:
    import h5py

    with h5py.File(path, "r") as handle:
        raw = handle.attrs.get("model_config")
    if raw is None:
        return {}
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def _lambda_layers(node: Any) -> Iterator[str]:
    """Lambda layers whose function is bytecode: tf_keras writes `function_type: lambda`,
    Keras 3 a `__lambda__` object."""
    if isinstance(node, list):
        for item in node:
            yield from _lambda_layers(item)
        return
    if not isinstance(node, dict):
        return
    config = node.get("config")
    if node.get("class_name") == "Lambda" and isinstance(config, dict):
        function = config.get("function")
        if (config.get("function_type") == "lambda"
                or (isinstance(function, dict) and function.get("class_name") == "__lambda__")):
            yield str(config.get("name", "?"))
    for value in node.values():
        yield from _lambda_layers(value)


def refused_by_safe_mode(error: BaseException) -> bool:
    """Whether Keras failed to load a file because safe mode refused its code (Keras 3
    wraps that error in its own)."""
    seen: BaseException | None = error
    while seen is not None:
        if _SAFE_MODE_REFUSAL in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def refusal(path: str | Path, layers: list[str]) -> str:
    """The one line that refuses a model whose layers carry code."""
    named = ", ".join(f"`{name}`" for name in layers)
    plural = "s" if len(layers) > 1 else ""
    return (f"{path}: Lambda layer{plural} {named} carr{'y' if plural else 'ies'} Python "
            f"code that would run on loading; Keras safe mode refuses it (set {TRUST_KEY}: "
            "true only for a model you wrote or trust)")


def check_model_code(spec: str, trust: bool) -> str | None:
    """The refusal for `train.model` when it is a file carrying code and `trust` is off."""
    if trust or not Path(spec).expanduser().exists():
        return None
    layers = code_layers(spec)
    return refusal(spec, layers) if layers else None
