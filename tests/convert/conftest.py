"""One trained baseline per session; compressed variants per module."""

from __future__ import annotations

from typing import Any

import pytest

from mlflow_tflite.data.dataset import Dataset
from tests import variant_helpers


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    return variant_helpers.digits_dataset()


@pytest.fixture(scope="session")
def baseline() -> Any:
    return variant_helpers.baseline()
