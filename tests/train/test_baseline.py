"""The built-in CNN is sized from the data; user models load; unwrappable ones are rejected."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_tflite._tf import import_keras
from mlflow_tflite.train import ModelError, build_baseline_model, builtin_cnn
from tests.train.builders import keras3_model, small_model

B = "tests.train.builders"


def layer_summary(model) -> list[tuple[str, object]]:
    return [
        (type(layer).__name__, getattr(layer, "filters", None) or getattr(layer, "units", None))
        for layer in model.layers
    ]


def test_builtin_cnn_for_28x28_is_the_classic_digit_cnn() -> None:
    model = builtin_cnn((28, 28, 1), 10)

    assert layer_summary(model) == [
        ("Conv2D", 32),
        ("MaxPooling2D", None),
        ("Conv2D", 64),
        ("MaxPooling2D", None),
        ("Flatten", None),
        ("Dense", 64),
        ("Dense", 10),
    ]
    assert model.output_shape == (None, 10)
    assert model.layers[-1].activation.__name__ == "softmax"


def test_builtin_cnn_for_8x8_keeps_valid_shapes_with_same_padding() -> None:
    model = builtin_cnn((8, 8, 1), 10)

    assert model.get_layer("pool2").output_shape == (None, 2, 2, 64)
    assert model.output_shape == (None, 10)


def test_builtin_cnn_adds_blocks_for_large_images_to_keep_dense_small() -> None:
    model = builtin_cnn((96, 80, 3), 4)

    features = model.get_layer("flatten").input_shape
    assert max(features[1:3]) <= 7
    assert model.output_shape == (None, 4)


def test_builtin_spec_builds_the_builtin_cnn() -> None:
    assert build_baseline_model("builtin", (8, 8, 1), 3).name == "builtin_cnn"


def test_module_function_builder_is_called_with_shape_and_classes() -> None:
    model = build_baseline_model(f"{B}:small_model", (8, 8, 1), 10)

    assert model.name == "small_model"
    assert model.input_shape == (None, 8, 8, 1)


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
@pytest.mark.parametrize("suffix", [".keras", ".h5", ""])
def test_saved_tf_keras_model_loads_from_a_path(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"model{suffix}"
    small_model((8, 8, 1), 10).save(path)

    model = build_baseline_model(str(path), (8, 8, 1), 10)

    assert model.output_shape == (None, 10)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (f"{B}:subclassed_model", "a subclassed model (Subclassed); tfmot can only wrap"),
        (f"{B}:keras3_model", "a Keras 3 model (keras."),
        (f"{B}:no_input_model", "a Sequential model without an Input layer"),
        (f"{B}:wrong_input_model", "input shape (9, 8, 1) does not match the data (8, 8, 1)"),
        (f"{B}:wrong_output_model", "output shape (11,) does not match 10 classes"),
        (f"{B}:not_a_model", "builtins.str, not a tf_keras Model"),
        (f"{B}:failing_builder", "builder failed: RuntimeError: out of ideas"),
        (f"{B}:absent", "module tests.train.builders has no function absent"),
        (f"{B}:NOT_CALLABLE", "has no function NOT_CALLABLE"),
        ("tests.train.nowhere:model", "cannot import module tests.train.nowhere"),
        ("missing.keras", "missing.keras: model file not found"),
        ("resnet", "resnet: no such model file or directory"),
    ],
)
def test_unusable_models_are_rejected_with_the_reason(spec: str, expected: str) -> None:
    with pytest.raises(ModelError) as raised:
        build_baseline_model(spec, (8, 8, 1), 10)

    assert expected in str(raised.value)
    assert str(raised.value).startswith(spec)
    assert "\n" not in str(raised.value)


def test_a_keras3_model_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "keras3.keras"
    keras3_model((8, 8, 1), 10).save(path)

    with pytest.raises(ModelError, match="tf_keras could not load it"):
        build_baseline_model(str(path), (8, 8, 1), 10)


def test_a_file_that_is_not_a_model_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "weights.txt"
    path.write_text("0.1")

    with pytest.raises(ModelError, match="weights.txt: not a model file"):
        build_baseline_model(str(path), (8, 8, 1), 10)


def test_a_saved_model_with_the_wrong_output_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    small_model((8, 8, 1), 3).save(path)

    with pytest.raises(ModelError, match="output shape \\(3,\\) does not match 10 classes"):
        build_baseline_model(str(path), (8, 8, 1), 10)


def test_builtin_cnn_is_wrappable_by_tfmot() -> None:
    import_keras()
    import tensorflow_model_optimization as tfmot

    wrapped = tfmot.sparsity.keras.prune_low_magnitude(builtin_cnn((8, 8, 1), 10))

    assert wrapped.output_shape == (None, 10)
