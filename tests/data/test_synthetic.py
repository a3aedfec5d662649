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


def test_every_input_of_a_multi_input_model_gets_its_shape_and_dtype(tmp_path: Path):
    from mlflow_tflite.convert.representative import representative_dataset
    from mlflow_tflite.data.dataset import by_input_name
    from mlflow_tflite.data.synthetic import InputSpec, synthetic_inputs

    specs = [InputSpec("image", (8, 8, 1)), InputSpec("ids", (3,), "int32"),
             InputSpec("mask", (3,), "bool")]
    dataset = synthetic_inputs(specs, DataConfig(source="synthetic", max_samples=40))
    x = dataset.x_test
    assert x.dtype.names == ("image", "ids", "mask") and len(x) == 8
    assert x["image"].shape == (8, 8, 8, 1) and x["image"].dtype == np.float32
    assert x["ids"].dtype == np.int32 and x["ids"].min() >= 0 and x["ids"].max() < 10
    assert x["mask"].dtype == np.bool_
    assert load_dataset(save_dataset(dataset, tmp_path)).version == dataset.version
    assert set(by_input_name(x)) == {"image", "ids", "mask"}
    # The converter calibrates by signature input name.
    batch = next(representative_dataset(dataset.x_train, 4)())
    assert {k: (v.shape, v.dtype) for k, v in batch.items()} == {
        "image": ((1, 8, 8, 1), np.float32), "ids": ((1, 3), np.int32),
        "mask": ((1, 3), np.bool_)}


def test_an_unknown_dimension_of_one_input_names_that_input():
    from mlflow_tflite.data.synthetic import InputSpec, synthetic_inputs

    with pytest.raises(DataError, match=r"input tokens of shape \(None,\) has an unknown"):
        synthetic_inputs([InputSpec("image", (4,)), InputSpec("tokens", (None,), "int32")],
                         DataConfig(source="synthetic"))
