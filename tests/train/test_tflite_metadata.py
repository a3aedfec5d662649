"""A `.tflite` whose TFLite Metadata was written by tflite-support's own writer
(`fixtures/metadata_classifier.tflite`, see `fixtures/make_metadata_classifier.py`): its
input normalization scales the data under `data.scale: auto`, its label file names the
classes, through `mlflow-tflite run --only prepare`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlflow_tflite.cli import main
from mlflow_tflite.data import load_dataset
from mlflow_tflite.train.facts import model_facts
from mlflow_tflite.train.tflite_metadata import TfliteMetadata, read_tflite_metadata
from tests.helpers import tiny_cnn, to_tflite
from tests.train.test_facts import _folder

MODEL = Path(__file__).parent / "fixtures" / "metadata_classifier.tflite"
SIZE = 8


def test_the_metadata_written_by_tflite_support_is_read() -> None:
    assert read_tflite_metadata(MODEL.read_bytes()) == TfliteMetadata(
        (127.5,), (127.5,), ("cat", "dog", "bird"), "labels.txt")
    facts = model_facts(str(MODEL))
    assert (facts.classes, facts.class_names, facts.names_origin) == (
        3, ("cat", "dog", "bird"), "labels.txt in its metadata")
    assert (facts.normalization.mean, facts.normalization.std) == ([127.5], [127.5])


def test_a_tflite_without_metadata_says_nothing() -> None:
    content = to_tflite(tiny_cnn())

    assert read_tflite_metadata(content) is None
    assert read_tflite_metadata(content[:200] + bytes(len(content) - 200)) is None


def _prepare(tmp_path: Path, source: Path, **data: object) -> int:
    params = {
        "data": {"source": str(source), "image_size": [SIZE, SIZE], "color_mode": "rgb",
                 "output_dir": str(tmp_path / "prepared"), **data},
        "train": {"model": str(MODEL)},
        "variants": [{"name": "fp32", "convert": {"quantization": "none"}}],
        "mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    }
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return main(["run", "--params", str(path), "--only", "prepare", "--no-cache"])


def test_auto_scales_as_the_metadata_says_and_its_labels_name_the_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert _prepare(tmp_path, _folder(tmp_path / "pets", ["bird", "cat"])) == 0

    line = capsys.readouterr().out
    assert ("scale (x - mean 127.5) / std 127.5 (auto: train.model's TFLite metadata); "
            "3 classes (1 with no example: dog)") in line
    dataset = load_dataset(tmp_path / "prepared")
    x = np.concatenate([dataset.x_train, dataset.x_val, dataset.x_test])
    pixels = x * 127.5 + 127.5  # back to the folder's 0..255 integer pixels
    assert x.min() < -0.2 and np.allclose(pixels, np.round(pixels), atol=1e-3)
    assert pixels.min() >= 0 and pixels.max() <= 255
    assert dataset.class_names == ("cat", "dog", "bird")
    assert set(np.unique(np.concatenate([dataset.y_train, dataset.y_test]))) == {0, 2}
    recorded = json.loads((tmp_path / "prepared" / "dataset.json").read_text())
    assert recorded["normalization"]["rule"] == (
        "(x - mean 127.5) / std 127.5 (auto: train.model's TFLite metadata)")


def test_an_explicit_scale_that_contradicts_the_metadata_is_applied_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert _prepare(tmp_path, _folder(tmp_path / "pets", ["cat", "dog"]), scale=[0, 1]) == 0

    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert ("scale [0, 1]: pixels / 255; warning: train.model's TFLite metadata asks "
            "(x - mean 127.5) / std 127.5 of 0..255 pixels, which data.scale does not give; "
            "data.scale is applied as written; 3 classes") in line
    assert load_dataset(tmp_path / "prepared").x_train.min() >= 0.0


def test_a_folder_the_labels_do_not_name_stops_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert _prepare(tmp_path, _folder(tmp_path / "pets", ["cat", "horse"])) != 0

    error = capsys.readouterr().err.strip()
    assert error.endswith("pets/horse: not one of train.model's classes (" + str(MODEL)
                          + ", labels.txt in its metadata: cat, dog, bird): name each folder "
                          "as the model names its class, or by its class index")
    assert "\n" not in error


def test_synthetic_inputs_are_drawn_as_the_metadata_normalizes_pixels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert _prepare(tmp_path, Path("synthetic"), max_samples=50) == 0

    assert ("scale synthetic: uniform 0..255 pixels, (x - mean 127.5) / std 127.5 "
            "(train.model's TFLite metadata), seed 42") in capsys.readouterr().out
    x = load_dataset(tmp_path / "prepared").x_test
    assert x.shape[1:] == (SIZE, SIZE, 3)
    assert -1.0 <= x.min() < -0.9 and 0.9 < x.max() < 1.0
