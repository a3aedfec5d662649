"""One prepared digits dataset for the train tests (8x8, 10 classes, seconds to train)."""

from __future__ import annotations

import pytest

from mlflow_tflite.config import DataConfig
from mlflow_tflite.data import Dataset, prepare_dataset


@pytest.fixture(scope="package")
def digits() -> Dataset:
    return prepare_dataset(DataConfig(source="digits"))
