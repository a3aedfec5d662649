"""The data version is a content hash: stable across runs and processes, sensitive to content."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np

from mlflow_tflite.config import DataConfig
from mlflow_tflite.data import content_version, prepare_dataset


def test_version_is_a_sha256_hex_digest() -> None:
    version = prepare_dataset(DataConfig(source="digits")).version

    assert len(version) == 64 and int(version, 16) >= 0


def test_version_is_the_same_in_another_process() -> None:
    here = prepare_dataset(DataConfig(source="digits")).version
    script = (
        "from mlflow_tflite.config import DataConfig\n"
        "from mlflow_tflite.data import prepare_dataset\n"
        "print(prepare_dataset(DataConfig(source='digits')).version)\n"
    )
    there = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()

    assert there == here


def test_version_changes_when_one_pixel_changes() -> None:
    dataset = prepare_dataset(DataConfig(source="digits"))
    x_test = dataset.x_test.copy()
    x_test[0, 0, 0, 0] += 0.5

    assert replace(dataset, x_test=x_test).version != dataset.version


def test_version_changes_with_the_split_seed_and_class_names() -> None:
    dataset = prepare_dataset(DataConfig(source="digits"))
    reseeded = prepare_dataset(DataConfig(source="digits", seed=3))
    renamed = replace(dataset, class_names=tuple(f"digit-{n}" for n in dataset.class_names))

    assert len({dataset.version, reseeded.version, renamed.version}) == 3


def test_version_depends_on_dtype_and_shape_not_only_bytes() -> None:
    flat = np.zeros(8, np.float32)

    versions = {
        content_version({"x": flat}, ["a"]),
        content_version({"x": flat.reshape(2, 4)}, ["a"]),
        content_version({"x": flat.view(np.int32)}, ["a"]),
    }

    assert len(versions) == 3


def test_version_ignores_source_and_normalization_record() -> None:
    dataset = prepare_dataset(DataConfig(source="digits"))

    assert replace(dataset, source="elsewhere.npz", normalization={}).version == dataset.version
