"""save_dataset/load_dataset round-trip exactly, atomically and byte-for-byte reproducibly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlflow_tflite.config import DataConfig
from mlflow_tflite.data import DataError, Dataset, load_dataset, prepare_dataset, save_dataset


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return prepare_dataset(DataConfig(source="digits"))


def test_load_returns_what_was_saved(digits: Dataset, tmp_path: Path) -> None:
    save_dataset(digits, tmp_path / "prepared")

    loaded = load_dataset(tmp_path / "prepared")

    assert loaded.version == digits.version
    assert loaded.class_names == digits.class_names
    assert loaded.source == "digits"
    assert loaded.normalization == digits.normalization
    for name, array in digits.arrays().items():
        np.testing.assert_array_equal(loaded.arrays()[name], array, err_msg=name)
        assert loaded.arrays()[name].dtype == array.dtype


def test_metadata_records_version_source_classes_normalization_shapes(
    digits: Dataset, tmp_path: Path
) -> None:
    save_dataset(digits, tmp_path)

    meta = json.loads((tmp_path / "dataset.json").read_text())

    assert meta["version"] == digits.version
    assert meta["source"] == "digits"
    assert meta["class_names"] == list(digits.class_names)
    assert meta["normalization"]["scale"] == pytest.approx(1 / 16)
    assert meta["shapes"]["x_train"] == list(digits.x_train.shape)


def test_saving_the_same_data_twice_writes_identical_bytes(digits: Dataset, tmp_path: Path) -> None:
    save_dataset(digits, tmp_path / "a")
    save_dataset(prepare_dataset(DataConfig(source="digits")), tmp_path / "b")

    for name in ("dataset.npz", "dataset.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_saving_over_a_dataset_replaces_it_and_leaves_no_temporary_files(
    digits: Dataset, tmp_path: Path
) -> None:
    save_dataset(prepare_dataset(DataConfig(source="digits", seed=5)), tmp_path)
    save_dataset(digits, tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset.json", "dataset.npz"]
    assert load_dataset(tmp_path).version == digits.version


def test_loading_a_missing_directory_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset.json: prepared dataset file not found"):
        load_dataset(tmp_path / "nowhere")


def test_loading_arrays_that_no_longer_match_the_version_fails(
    digits: Dataset, tmp_path: Path
) -> None:
    save_dataset(digits, tmp_path)
    other = prepare_dataset(DataConfig(source="digits", seed=9))
    np.savez(tmp_path / "dataset.npz", **other.arrays())

    with pytest.raises(DataError, match=r"dataset.npz: content hashes to \w+, but"):
        load_dataset(tmp_path)


def test_loading_a_corrupt_archive_fails_with_a_data_error(digits: Dataset, tmp_path: Path) -> None:
    save_dataset(digits, tmp_path)
    (tmp_path / "dataset.npz").write_bytes(b"not a zip")

    with pytest.raises(DataError, match=r"dataset\.npz: unreadable prepared dataset"):
        load_dataset(tmp_path)


def test_reading_some_arrays_gives_those_alone_and_the_meta_none(
    digits: Dataset, tmp_path: Path
) -> None:
    from mlflow_tflite.data.dataset import read_arrays, read_meta

    save_dataset(digits, tmp_path)
    arrays = read_arrays(tmp_path, "x_test", "y_test")
    assert list(arrays) == ["x_test", "y_test"]
    np.testing.assert_array_equal(arrays["x_test"], digits.x_test)
    assert read_meta(tmp_path)["version"] == digits.version
    with pytest.raises(DataError, match=r"dataset\.npz: unreadable prepared dataset"):
        read_arrays(tmp_path, "x_nowhere")
    with pytest.raises(DataError, match=r"dataset\.json: prepared dataset file not found"):
        read_meta(tmp_path / "missing")
