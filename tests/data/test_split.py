"""Splits are stratified, disjoint and a function of the seed alone."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_tflite.config import DataConfig
from mlflow_tflite.data import prepare_dataset


def test_every_split_keeps_the_class_proportions() -> None:
    dataset = prepare_dataset(DataConfig(source="digits", validation_fraction=0.2))

    total = np.bincount(
        np.concatenate([dataset.y_train, dataset.y_val, dataset.y_test]), minlength=10
    )
    for labels, fraction in ((dataset.y_train, 0.6), (dataset.y_val, 0.2), (dataset.y_test, 0.2)):
        assert np.abs(np.bincount(labels, minlength=10) - total * fraction).max() <= 2


def test_splits_are_disjoint_and_cover_the_data() -> None:
    dataset = prepare_dataset(DataConfig(source="digits"))

    rows = [bytes(x) for x in np.concatenate([dataset.x_train, dataset.x_val, dataset.x_test])]
    from sklearn.datasets import load_digits

    assert len(rows) == len(load_digits().target)
    # digits has a few duplicate images, so compare multisets of rows, not sets.
    expected = sorted(bytes((x / 16.0).astype(np.float32)) for x in load_digits().data)
    assert sorted(rows) == expected


def test_the_same_seed_gives_the_same_split() -> None:
    first = prepare_dataset(DataConfig(source="digits", seed=7))
    second = prepare_dataset(DataConfig(source="digits", seed=7))

    for name, array in first.arrays().items():
        np.testing.assert_array_equal(array, second.arrays()[name], err_msg=name)


def test_another_seed_gives_another_split() -> None:
    first = prepare_dataset(DataConfig(source="digits", seed=1))
    second = prepare_dataset(DataConfig(source="digits", seed=2))

    assert not np.array_equal(first.y_test, second.y_test)


def test_zero_validation_fraction_leaves_an_empty_validation_split() -> None:
    dataset = prepare_dataset(DataConfig(source="digits", validation_fraction=0.0))

    assert dataset.x_val.shape == (0, 8, 8, 1)
    assert dataset.y_val.shape == (0,)
    assert len(dataset.y_test) == pytest.approx(0.2 * 1797, abs=1)
