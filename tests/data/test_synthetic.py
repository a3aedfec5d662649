"""`data.source: synthetic`: seeded inputs of the model's shape, no labels, versioned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlflow_tflite.config import DataConfig
from mlflow_tflite.data import DataError, load_dataset, save_dataset
from mlflow_tflite.data.synthetic import synthetic_dataset


def test_inputs_are_seeded_shaped_as_the_model_and_split_without_labels():
    config = DataConfig(source="synthetic", seed=3)
    dataset = synthetic_dataset((12, 10, 3), config)
    assert dataset.x_train.shape == (350, 12, 10, 3) and dataset.x_test.shape == (100, 12, 10, 3)
    assert dataset.x_val.shape == (50, 12, 10, 3)
    assert not dataset.labelled and dataset.y_test.shape == (0,)
    assert dataset.x_train.min() >= 0.0 and dataset.x_train.max() < 1.0
    again = synthetic_dataset((12, 10, 3), config)
    assert again.version == dataset.version
    other = synthetic_dataset((12, 10, 3), DataConfig(source="synthetic", seed=4))
    assert other.version != dataset.version


def test_max_samples_sets_how_many_inputs_are_drawn():
    dataset = synthetic_dataset((4,), DataConfig(source="synthetic", max_samples=20))
    assert len(dataset.x_train) + len(dataset.x_val) + len(dataset.x_test) == 20


def test_a_synthetic_dataset_survives_the_prepared_files(tmp_path: Path):
    dataset = synthetic_dataset((8, 8, 1), DataConfig(source="synthetic"))
    loaded = load_dataset(save_dataset(dataset, tmp_path))
    assert loaded.version == dataset.version and not loaded.labelled
    np.testing.assert_array_equal(loaded.x_test, dataset.x_test)


def test_an_unknown_input_dimension_is_a_one_line_error():
    with pytest.raises(DataError, match=r"input shape \(None, 3\) has an unknown"):
        synthetic_dataset((None, 3), DataConfig(source="synthetic"))
