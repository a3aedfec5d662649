"""Datasets: bundled MNIST and digits, `.npz` files and image folders, scaled, split and
versioned.

from mlflow_tflite.data import prepare_dataset, save_dataset, load_dataset
dataset = prepare_dataset(DataConfig(source="digits"))
save_dataset(dataset, "data/prepared")
assert load_dataset("data/prepared").version == dataset.version
"""

from mlflow_tflite.data.classes import ModelFacts
from mlflow_tflite.data.dataset import Dataset, load_dataset, save_dataset
from mlflow_tflite.data.errors import DataError
from mlflow_tflite.data.prepare import prepare_dataset
from mlflow_tflite.data.version import content_version

__all__ = [
    "DataError",
    "Dataset",
    "ModelFacts",
    "content_version",
    "load_dataset",
    "prepare_dataset",
    "save_dataset",
]
