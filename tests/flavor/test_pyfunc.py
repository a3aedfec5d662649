"""The python_function flavor: mlflow.pyfunc.load_model(uri).predict(x)."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import Model, infer_signature
from mlflow.types import Schema, TensorSpec

import mlflow_tflite
from mlflow_tflite.flavor import carry
from mlflow_tflite.flavor.loader.model import TFLiteModel
from tests.flavor.conftest import images, multi_inputs
from tests.flavor.raw import raw_predict


@pytest.fixture(scope="module")
def saved(models, tmp_path_factory) -> dict[str, str]:
    """Every test model saved once for this module."""
    root = tmp_path_factory.mktemp("pyfunc")
    paths = {}
    for name, content in models.items():
        paths[name] = str(root / name)
        mlflow_tflite.save_model(content, paths[name])
    return paths


@pytest.mark.parametrize("name", ["float", "int8", "float16"])
@pytest.mark.parametrize("batch", [1, 7, 33])
def test_pyfunc_predict_equals_the_raw_interpreter(models, saved, name, batch):
    x = images(batch, seed=batch)

    result = mlflow.pyfunc.load_model(saved[name]).predict(x)

    assert isinstance(result, np.ndarray)
    assert result.shape == (batch, 10)
    np.testing.assert_allclose(result, raw_predict(models[name], {"image": x})["logits"])


def test_int8_model_takes_float_input_and_returns_float_output(saved, models):
    x = images(8)

    result = mlflow.pyfunc.load_model(saved["int8"]).predict(x)

    assert result.dtype == np.float32
    float_logits = raw_predict(models["float"], {"image": x})["logits"]
    assert (result.argmax(1) == float_logits.argmax(1)).mean() >= 0.75


def test_int8_model_takes_already_quantized_input_natively(saved, models):
    model = mlflow_tflite.load_model(saved["int8"])
    (spec,) = model.input_details
    x = images(4)
    quantized = np.clip(np.round(x / spec["scale"]) + spec["zero_point"], -128, 127)

    result = model.predict(quantized.astype(np.int8))

    np.testing.assert_allclose(result, raw_predict(models["int8"], {"image": x})["logits"])


def test_multi_input_model_takes_a_dict_and_returns_a_dict(saved, multi_io_tflite):
    x = multi_inputs(9)

    result = mlflow.pyfunc.load_model(saved["multi_io"]).predict(x)

    expected = raw_predict(multi_io_tflite, x)
    assert set(result) == {"logits", "score"}
    for name in expected:
        np.testing.assert_allclose(result[name], expected[name])


def test_dataframe_with_a_column_per_input_holding_flattened_tensors(saved, multi_io_tflite):
    x = multi_inputs(4)
    frame = pd.DataFrame({name: list(value.reshape(4, -1)) for name, value in x.items()})

    result = mlflow.pyfunc.load_model(saved["multi_io"]).predict(frame)

    np.testing.assert_allclose(result["score"], raw_predict(multi_io_tflite, x)["score"])


def test_native_model_takes_a_dataframe_of_flattened_rows(saved, float_model):
    x = images(5)
    frame = pd.DataFrame(x.reshape(5, -1))

    result = mlflow_tflite.load_model(saved["float"]).predict(frame)

    np.testing.assert_allclose(result, raw_predict(float_model, {"image": x})["logits"])


def test_pyfunc_unwraps_to_the_tflite_model_the_model_carries(saved):
    raw = mlflow.pyfunc.load_model(saved["float"]).get_raw_model()

    # The pyfunc runs the loader inside the model (code/), here as in a serving environment.
    assert type(raw).__name__ == TFLiteModel.__name__
    assert type(raw).__module__ == f"{carry.loader_package()}.model"
    assert raw.input_details == mlflow_tflite.load_model(saved["float"]).input_details


def test_signature_is_inferred_from_the_tensors(saved):
    signature = Model.load(saved["multi_io"]).signature

    assert signature.inputs == Schema(
        [
            TensorSpec(np.dtype("float32"), (-1, 3), "extra"),
            TensorSpec(np.dtype("float32"), (-1, 8, 8, 1), "image"),
        ]
    )
    assert signature.outputs.input_names() == ["logits", "score"]


def test_quantized_tensors_appear_as_float_in_the_signature(saved):
    signature = Model.load(saved["int8"]).signature

    assert signature.inputs.inputs[0].type == np.dtype("float32")
    assert signature.outputs.inputs[0].type == np.dtype("float32")


def test_a_given_signature_and_input_example_are_saved(float_model, tmp_path):
    x = images(2)
    signature = infer_signature(x, np.zeros((2, 10), dtype=np.float32))
    mlflow_tflite.save_model(float_model, tmp_path / "m", signature=signature, input_example=x)

    model = Model.load(str(tmp_path / "m"))

    assert model.signature == signature
    np.testing.assert_array_equal(model.load_input_example(str(tmp_path / "m")), x)


def test_logged_input_example_is_served_without_warnings(tracking_uri, float_model, caplog):
    x = images(3)

    info = mlflow_tflite.log_model(float_model, input_example=x)

    assert "Failed to validate serving input example" not in caplog.text
    local = mlflow.artifacts.download_artifacts(info.model_uri)
    example = Model.load(local).load_input_example(local)
    # Stored by the inferred signature's input name.
    np.testing.assert_array_equal(example["image"], x)


def test_dynamic_dimensions_past_the_batch_follow_the_input(sequence_model, tmp_path):
    mlflow_tflite.save_model(sequence_model, tmp_path / "model")
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"))

    assert Model.load(str(tmp_path / "model")).signature.inputs.inputs[0].shape == (-1, -1)
    for shape in [(2, 5), (3, 7), (3, 7), (1, 2)]:
        tokens = np.ones(shape, np.float32)
        np.testing.assert_allclose(model.predict(tokens), np.full((shape[0], 1), 2.0 * shape[1]))
