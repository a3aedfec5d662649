"""The `python_function` loader of `tflite` models: the MLmodel's `loader_module` (in the
copy of this package every model carries, see `flavor.loader`)."""

from __future__ import annotations

import os
from typing import Any

from mlflow_tflite.litert import DEFAULT_DELEGATE

from . import FLAVOR_NAME
from .load import checked_model_file
from .model import TFLiteModel


def load_flavor_model(model_dir: str, flavor_conf: dict[str, Any]) -> TFLiteModel:
    """A TFLiteModel from a model directory and its MLmodel `tflite` section, after
    checking the model file's sha256."""
    _, content = checked_model_file(model_dir, flavor_conf)
    options = flavor_conf.get("interpreter_options") or {}
    return TFLiteModel(
        content,
        delegate=options.get("delegate", DEFAULT_DELEGATE),
        num_threads=options.get("num_threads"),
        quantization=flavor_conf.get("quantization"),
    )


class _TFLiteModelWrapper:
    """The pyfunc face of a TFLiteModel: `predict(data, params=None)`."""

    def __init__(self, model: TFLiteModel) -> None:
        self.model = model

    def get_raw_model(self) -> TFLiteModel:
        return self.model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Outputs for an array, a dict of arrays or a DataFrame (see TFLiteModel.predict).

        `params` is accepted for the pyfunc interface; the model takes none.
        """
        return self.model.predict(data)


def _load_pyfunc(path: str) -> _TFLiteModelWrapper:
    """Called by `mlflow.pyfunc.load_model` with the path of the model file."""
    from mlflow.models import Model

    model_dir = os.path.dirname(os.path.abspath(path))
    flavor_conf = Model.load(model_dir).flavors[FLAVOR_NAME]
    return _TFLiteModelWrapper(load_flavor_model(model_dir, flavor_conf))
