"""Typed, validated params: one model per params.yaml section.

Names load on first access: the technique and scheme modules import
`mlflow_tflite.config.base` while the registries that `config.variants` reads are being
built, so importing every section here eagerly would close that cycle.
"""

from __future__ import annotations

import importlib
from typing import Any

# exported name -> module defining it
_EXPORTS = {
    "BenchmarkConfig": "benchmark",
    "CompressConfig": "variants",
    "ConvertConfig": "variants",
    "DataConfig": "data",
    "MlflowConfig": "tracking",
    "Params": "params",
    "ParamsError": "params",
    "PromoteConfig": "promote",
    "RunnerConfig": "runner",
    "SearchConfig": "search",
    "TrainConfig": "train",
    "VariantConfig": "variants",
    "load_params": "params",
    "parse_params": "params",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


__all__ = sorted(_EXPORTS)
