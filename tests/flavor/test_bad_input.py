"""What the flavor refuses, and how: bad models at save time, bad input at predict time."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException

import mlflow_tflite
from tests.flavor.conftest import images, multi_inputs


def _bad_models(float_model: bytes, tmp_path: Path) -> dict[str, tuple[object, str]]:
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    return {
        "random bytes": (os.urandom(4096), "not a TFLite flatbuffer"),
        "empty bytes": (b"", "empty"),
        "empty file": (empty, "empty"),
        "truncated": (float_model[: len(float_model) // 2], "not a TFLite flatbuffer"),
        "missing path": (tmp_path / "missing.tflite", "not found.*missing.tflite"),
        "not bytes or path": (12345, "bytes or a path.*int"),
    }


BAD = [
    "random bytes",
    "empty bytes",
    "empty file",
    "truncated",
    "missing path",
    "not bytes or path",
]


@pytest.mark.parametrize("case", BAD)
def test_save_refuses_what_litert_cannot_load_and_writes_nothing(float_model, tmp_path, case):
    content, message = _bad_models(float_model, tmp_path)[case]

    with pytest.raises(MlflowException, match=message) as error:
        mlflow_tflite.save_model(content, tmp_path / "model")

    assert error.value.error_code == "INVALID_PARAMETER_VALUE"
    assert not (tmp_path / "model").exists()


def test_save_names_an_unresolved_custom_op(custom_op_model, tmp_path):
    with pytest.raises(MlflowException, match="custom op 'Igamma'") as error:
        mlflow_tflite.save_model(custom_op_model, tmp_path / "model")

    assert error.value.error_code == "INVALID_PARAMETER_VALUE"
    assert not (tmp_path / "model").exists()


def test_a_failure_after_validation_removes_the_partial_directory(float_model, tmp_path):
    with pytest.raises(MlflowException):
        mlflow_tflite.save_model(float_model, tmp_path / "model", input_example=object())

    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("case", ["random bytes", "truncated", "missing path"])
def test_log_model_of_a_bad_model_logs_nothing(tracking_uri, float_model, tmp_path, case):
    content, message = _bad_models(float_model, tmp_path)[case]

    with pytest.raises(MlflowException, match=message):
        mlflow_tflite.log_model(content, registered_model_name="bad")

    assert mlflow.active_run() is None
    assert mlflow.search_logged_models(output_format="list") == []
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []
    assert mlflow.MlflowClient().search_registered_models() == []


def test_log_model_failure_inside_a_run_leaves_it_failed_not_running(tracking_uri, custom_op_model):
    with pytest.raises(MlflowException, match="Igamma"), mlflow.start_run() as run:
        mlflow_tflite.log_model(custom_op_model)

    assert mlflow.get_run(run.info.run_id).info.status == "FAILED"
    assert mlflow.search_logged_models(output_format="list") == []


def test_a_tampered_model_file_is_refused_on_load(tracking_uri, float_model):
    info = mlflow_tflite.log_model(float_model)
    stored = Path(mlflow.artifacts.download_artifacts(info.model_uri))
    # Tamper with the copy in the artifact store, not a downloaded copy.
    artifact = (
        Path(mlflow.get_logged_model(info.model_id).artifact_location.removeprefix("file://"))
        / "model.tflite"
    )
    assert artifact.read_bytes() == (stored / "model.tflite").read_bytes()
    tampered = bytearray(float_model)
    tampered[-100] ^= 0xFF
    artifact.write_bytes(bytes(tampered))

    with pytest.raises(MlflowException, match="model.tflite does not match the sha256") as error:
        mlflow_tflite.load_model(info.model_uri)
    assert error.value.error_code == "DATA_LOSS"
    with pytest.raises(MlflowException, match="sha256"):
        mlflow.pyfunc.load_model(info.model_uri)


@pytest.fixture(scope="module")
def float_loaded(float_model):
    from mlflow_tflite.flavor.loader.model import TFLiteModel

    return TFLiteModel(float_model)


@pytest.fixture(scope="module")
def multi_loaded(multi_io_tflite, tmp_path_factory):
    path = tmp_path_factory.mktemp("multi") / "model"
    mlflow_tflite.save_model(multi_io_tflite, path)
    return mlflow.pyfunc.load_model(str(path))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            np.zeros((2, 7, 8, 1), np.float32),
            r"'image' has shape \(2, 7, 8, 1\); expected \(batch, 8, 8, 1\)",
        ),
        (
            np.zeros((8, 8, 1), np.float32),
            r"'image' has shape \(8, 8, 1\); expected \(batch, 8, 8, 1\)",
        ),
        (np.full((2, 8, 8, 1), "x"), r"'image' has dtype <U1; expected float32"),
        (
            {"pixels": images(2)},
            r"missing input\(s\) \['image'\]; the model takes image \(batch, 8, 8, 1\)",
        ),
        (np.zeros((0, 8, 8, 1), np.float32), "the batch is empty"),
        ("an image", "must be a numpy array, a dict of arrays or a pandas DataFrame"),
        ([[1, 2], [3]], r"'image' is not a rectangular array; expected shape \(batch, 8, 8, 1\)"),
    ],
)
def test_native_predict_refuses_bad_input_naming_the_input(float_loaded, data, message):
    with pytest.raises(MlflowException, match=message) as error:
        float_loaded.predict(data)

    assert error.value.error_code == "INVALID_PARAMETER_VALUE"


def test_predict_still_works_after_refusing_bad_input(float_loaded):
    with pytest.raises(MlflowException):
        float_loaded.predict(np.zeros((3, 4), np.float32))

    assert float_loaded.predict(images(3)).shape == (3, 10)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (images(2), "Model is missing inputs"),
        ({"image": images(2)}, r"missing inputs \['extra'\]"),
        ({**multi_inputs(2), "extra": np.zeros((2, 4), np.float32)}, r"\(-1, 3\)"),
        ({**multi_inputs(2), "extra": np.zeros((3, 3), np.float32)}, "different batch sizes"),
        ({**multi_inputs(2), "extra": np.zeros((2, 3), np.float64)}, "dtype"),
    ],
)
def test_pyfunc_refuses_bad_input_to_a_multi_input_model(multi_loaded, data, message):
    with pytest.raises(MlflowException, match=message) as error:
        multi_loaded.predict(data)

    assert error.value.error_code == "INVALID_PARAMETER_VALUE"


def test_native_multi_input_model_refuses_a_bare_array(multi_io_tflite):
    from mlflow_tflite.flavor.loader.model import TFLiteModel

    with pytest.raises(MlflowException, match="2 inputs, so pass a dict or DataFrame"):
        TFLiteModel(multi_io_tflite).predict(images(2))


@pytest.mark.parametrize("kind", ["float", "int8", "float16"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_input_to_any_model_is_refused_not_answered(models, tmp_path, kind, value):
    mlflow_tflite.save_model(models[kind], tmp_path / "model")
    x = images(3)
    x[1, 2, 3, 0] = value

    for model in (mlflow_tflite.load_model(tmp_path / "model"),
                  mlflow.pyfunc.load_model(str(tmp_path / "model"))):
        with pytest.raises(MlflowException, match="'image' has 1 NaN or infinite value") as error:
            model.predict(x)
        assert error.value.error_code == "INVALID_PARAMETER_VALUE"


def test_values_outside_a_quantized_inputs_range_are_clipped_counted_and_logged(
    int8_model, tmp_path, caplog
):
    mlflow_tflite.save_model(int8_model, tmp_path / "model")
    model = mlflow_tflite.load_model(tmp_path / "model")
    x = images(2)
    assert model.predict(x) is not None and model.clipped == {}

    x[0, :2, :, 0] = 1000.0  # 16 values far past what int8 represents at this scale
    x[1, 0, 0, 0] = -1000.0
    with caplog.at_level("WARNING", logger="mlflow_tflite.flavor.loader.model"):
        clipped = model.predict(x)
    assert model.clipped == {"image": 17}
    assert "input 'image': 17 of 128 values lie outside" in caplog.text
    assert "were clipped to it" in caplog.text
    edge = x.copy()
    edge[0, :2, :, 0], edge[1, 0, 0, 0] = 1e9, -1e9  # clipping to the same end points
    np.testing.assert_allclose(model.predict(edge), clipped)
