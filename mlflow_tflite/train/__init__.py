"""Baseline Keras models: build or load, check tfmot can wrap them, train, clone.

from mlflow_tflite.train import train_baseline, clone_baseline
trained = train_baseline(dataset, TrainConfig(epochs=4))
variant_start = clone_baseline(trained.model)
"""

from mlflow_tflite.train.baseline import (
    ModelError,
    build_baseline_model,
    builtin_cnn,
    check_wrappable,
)
from mlflow_tflite.train.fit import (
    TrainedBaseline,
    clone_baseline,
    compile_baseline,
    train_baseline,
)

__all__ = [
    "ModelError",
    "TrainedBaseline",
    "build_baseline_model",
    "builtin_cnn",
    "check_wrappable",
    "clone_baseline",
    "compile_baseline",
    "train_baseline",
]
