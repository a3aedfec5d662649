"""Typed, validated params: one model per params.yaml section."""

from mlflow_tflite.config.benchmark import BenchmarkConfig
from mlflow_tflite.config.data import DataConfig
from mlflow_tflite.config.params import Params, ParamsError, load_params, parse_params
from mlflow_tflite.config.promote import PromoteConfig
from mlflow_tflite.config.runner import RunnerConfig
from mlflow_tflite.config.search import SearchConfig
from mlflow_tflite.config.tracking import MlflowConfig
from mlflow_tflite.config.train import TrainConfig
from mlflow_tflite.config.variants import (
    ClusterConfig,
    CompressConfig,
    ConvertConfig,
    PruneConfig,
    QatConfig,
    VariantConfig,
)

__all__ = [
    "BenchmarkConfig",
    "ClusterConfig",
    "CompressConfig",
    "ConvertConfig",
    "DataConfig",
    "MlflowConfig",
    "Params",
    "ParamsError",
    "PromoteConfig",
    "PruneConfig",
    "QatConfig",
    "RunnerConfig",
    "SearchConfig",
    "TrainConfig",
    "VariantConfig",
    "load_params",
    "parse_params",
]
