"""mlflow-tflite: TensorFlow Lite model compression in MLflow experiment tracking.

The MLflow flavor API (`save_model`, `log_model`, `load_model`) is importable from here;
importing this package does not import TensorFlow, LiteRT or MLflow.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_FLAVOR_API = (
    "FLAVOR_NAME",
    "save_model",
    "log_model",
    "load_model",
    "get_default_pip_requirements",
    "get_default_conda_env",
)


def __getattr__(name: str) -> Any:
    # Lazy, so `import mlflow_tflite` stays fast and TensorFlow-free.
    if name in _FLAVOR_API:
        from mlflow_tflite import flavor

        return getattr(flavor, name)
    raise AttributeError(f"module 'mlflow_tflite' has no attribute {name!r}")


__all__ = ["__version__", *_FLAVOR_API]
