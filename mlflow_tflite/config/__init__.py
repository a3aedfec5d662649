"""Typed, validated params: one model per params.yaml section."""

from __future__ import annotations

from mlflow_tflite.config.benchmark import BenchmarkConfig
from mlflow_tflite.config.data import DataConfig
from mlflow_tflite.config.params import Params, ParamsError, load_params, parse_params
from mlflow_tflite.config.promote import PromoteConfig
from mlflow_tflite.config.runner import RunnerConfig
from mlflow_tflite.config.search import SearchConfig
from mlflow_tflite.config.tracking import MlflowConfig
from mlflow_tflite.config.train import TrainConfig
from mlflow_tflite.config.variants import CompressConfig, ConvertConfig, VariantConfig

__all__ = [
    "BenchmarkConfig",
    "CompressConfig",
    "ConvertConfig",
    "DataConfig",
    "MlflowConfig",
    "Params",
    "ParamsError",
    "PromoteConfig",
    "RunnerConfig",
    "SearchConfig",
    "TrainConfig",
    "VariantConfig",
    "load_params",
    "parse_params",
]
