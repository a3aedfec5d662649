"""A pretrained model's classes and input scaling decide how its data is prepared: Keras
applications built with `weights=None` (tf_keras), through `mlflow-tflite run`."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from PIL import Image

from mlflow_tflite._tf import import_keras
from mlflow_tflite.cli import main
from mlflow_tflite.data import load_dataset
from mlflow_tflite.train.facts import model_facts

SIZE = 32


@pytest.fixture(scope="module")
def applications(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """MobileNetV3Small (carries a Rescaling layer) and MobileNetV2 (expects [-1, 1]), 7
    classes each, saved as tf_keras `.h5` files."""
    keras = import_keras()
    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("applications")
    models = {
        "v3": keras.applications.MobileNetV3Small(
            input_shape=(SIZE, SIZE, 3), weights=None, classes=7, minimalistic=True,
            alpha=0.75, include_preprocessing=True),
        "v2": keras.applications.MobileNetV2(
            input_shape=(SIZE, SIZE, 3), alpha=0.35, weights=None, classes=7),
    }
    paths = {}
    for name, model in models.items():
        paths[name] = root / f"{name}.h5"
        model.save(paths[name])
    return paths


def _folder(root: Path, classes: list[str], per_class: int = 10) -> Path:
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            pixels = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{index}.png")
    return root


def _params(tmp_path: Path, model: Path, source: Path, **data: object) -> Path:
    params = {
        "data": {"source": str(source), "image_size": [SIZE, SIZE], "color_mode": "rgb",
                 "output_dir": str(tmp_path / "prepared"), **data},
        "train": {"model": str(model), "epochs": 0},
        "variants": [{"name": "fp32", "convert": {"quantization": "none"}}],
        "mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    }
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_a_keras_application_says_its_classes_and_its_own_rescaling(
    applications: dict[str, Path],
) -> None:
    v3 = model_facts(str(applications["v3"]))
    v2 = model_facts(str(applications["v2"]))

    assert (v3.classes, v3.rescaling) == (7, "Rescaling layer 'rescaling'")
    assert (v2.classes, v2.rescaling) == (7, None)
    assert model_facts("builtin") is None


def test_a_model_that_rescales_gets_raw_pixels_and_keeps_class_indices(
    applications: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    source = _folder(tmp_path / "faces", ["0", "3", "6"])
    params = _params(tmp_path, applications["v3"], source)

    assert main(["run", "--params", str(params), "--only", "prepare"]) == 0

    line = capsys.readouterr().out
    assert "scale none (auto: the model rescales its own inputs with Rescaling layer" in line
    assert "7 classes (4 with no example: 1, 2, 4, 5)" in line
    dataset = load_dataset(tmp_path / "prepared")
    assert dataset.num_classes == 7
    assert set(np.unique(dataset.y_test)) == {0, 3, 6}
    assert dataset.x_train.max() > 200  # raw pixels: the model's Rescaling divides them


def test_a_model_trained_on_minus_one_one_gets_its_scale(
    applications: dict[str, Path], tmp_path: Path,
) -> None:
    source = _folder(tmp_path / "faces", ["a", "b"])
    params = _params(tmp_path, applications["v2"], source, scale=[-1, 1])

    assert main(["run", "--params", str(params), "--only", "prepare"]) == 0

    dataset = load_dataset(tmp_path / "prepared")
    assert dataset.x_train.min() == pytest.approx(-1.0, abs=0.01)
    assert dataset.x_train.max() == pytest.approx(1.0, abs=0.01)
    assert dataset.class_names == ("a", "b", "2", "3", "4", "5", "6")


def test_a_label_the_model_has_no_output_for_stops_run_before_any_mlflow_run(
    applications: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    rng = np.random.default_rng(0)
    source = tmp_path / "faces.npz"
    np.savez(source, x_train=rng.integers(0, 256, (40, SIZE, SIZE, 3), dtype=np.uint8),
             y_train=np.tile(np.arange(10), 4))
    params = _params(tmp_path, applications["v2"], source)

    assert main(["run", "--params", str(params)]) != 0

    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "label 9 is outside train.model's 7 classes" in error
    assert "the data's labels must be the model's class indices 0..6" in error
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []
    finally:
        mlflow.set_tracking_uri(None)


def test_a_bad_data_scale_is_one_line_naming_the_key(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    params = _params(tmp_path, Path("builtin"), Path("digits"), scale="[0, 255]")

    assert main(["run", "--params", str(params), "--only", "prepare"]) != 0

    error = capsys.readouterr().err.strip()
    assert "data.scale: expected auto, none, [0, 1], [-1, 1]" in error
    assert "\n" not in error


def test_a_technique_that_cannot_wrap_the_model_skips_its_variants_before_any_build(
    applications: dict[str, Path], tmp_path: Path,
) -> None:
    from mlflow_tflite import checks
    from mlflow_tflite.pipeline import ArtifactStore, steps

    source = _folder(tmp_path / "faces", ["0", "3", "6"])
    params_file = _params(tmp_path, applications["v3"], source)
    raw = yaml.safe_load(params_file.read_text())
    raw["variants"] = [{"name": "fp32", "convert": {"quantization": "none"}},
                       {"name": "qat-int8", "compress": {"qat": {"epochs": 1}},
                        "convert": {"quantization": "int8"}}]
    params_file.write_text(yaml.safe_dump(raw))
    params = checks.load_checked_params(params_file)
    store = ArtifactStore(tmp_path / "cache")
    data = steps.prepare(params, store)
    baseline = steps.train_baseline(params, data, store)

    skipped = steps.unwrappable_variants(params.variants, params, baseline, data)

    # tfmot's quantize_model refuses MobileNetV3's Rescaling layer: found in one wrap.
    assert list(skipped) == ["qat-int8"]
    assert skipped["qat-int8"].startswith(
        "quantization-aware training cannot wrap the baseline: Layer rescaling:")
    # A search asks the same of one load, with the kernel sizes that cap its clusters.
    unfit, sizes = steps.search_probe(["prune", "qat"], params, baseline, data)
    assert list(unfit) == ["qat"] and unfit["qat"] == skipped["qat-int8"]
    assert len(sizes) > 10 and min(sizes) > 0
