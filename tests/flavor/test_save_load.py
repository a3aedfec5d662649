"""save_model / load_model / log_model round trips and what the MLmodel file records."""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from mlflow.exceptions import MlflowException
from mlflow.models import Model

import mlflow_tflite
from tests.flavor.conftest import images, multi_inputs
from tests.flavor.raw import raw_predict


def _flavor(path: Path) -> dict:
    return Model.load(str(path)).flavors["tflite"]


@pytest.mark.parametrize("name", ["float", "int8", "float16"])
def test_saved_model_loads_and_predicts_like_the_interpreter(models, tmp_path, name):
    mlflow_tflite.save_model(models[name], tmp_path / "model")

    model = mlflow_tflite.load_model(str(tmp_path / "model"))

    x = images(6)
    np.testing.assert_allclose(model.predict(x), raw_predict(models[name], {"image": x})["logits"])


def test_save_accepts_a_path_as_well_as_bytes(model_file, float_model, tmp_path):
    mlflow_tflite.save_model(model_file, tmp_path / "from_path")
    mlflow_tflite.save_model(float_model, tmp_path / "from_bytes")

    assert (tmp_path / "from_path" / "model.tflite").read_bytes() == float_model
    assert _flavor(tmp_path / "from_path") == _flavor(tmp_path / "from_bytes")


def test_loaded_model_exposes_input_and_output_details(multi_io_tflite, tmp_path):
    mlflow_tflite.save_model(multi_io_tflite, tmp_path / "model")

    model = mlflow_tflite.load_model(str(tmp_path / "model"))

    assert {d["name"]: d["shape"] for d in model.input_details} == {
        "image": [-1, 8, 8, 1],
        "extra": [-1, 3],
    }
    assert [d["name"] for d in model.output_details] == ["logits", "score"]
    assert all(d["dtype"] == "float32" for d in model.input_details + model.output_details)


def test_logged_model_loads_by_its_model_uri(tracking_uri, float_model):
    with mlflow.start_run() as run:
        info = mlflow_tflite.log_model(float_model, name="digits")

    model = mlflow_tflite.load_model(info.model_uri)

    assert info.run_id == run.info.run_id
    assert mlflow.get_run(run.info.run_id).info.status == "FINISHED"
    x = images(3)
    np.testing.assert_allclose(model.predict(x), raw_predict(float_model, {"image": x})["logits"])


def test_mlmodel_records_file_hash_versions_and_tensors(int8_model, tmp_path):
    mlflow_tflite.save_model(int8_model, tmp_path / "model")

    section = _flavor(tmp_path / "model")

    assert section["data"] == "model.tflite"
    assert section["sha256"] == hashlib.sha256(int8_model).hexdigest()
    assert section["litert_version"] == importlib.metadata.version("ai-edge-litert")
    assert section["tensorflow_version"] == importlib.metadata.version("tensorflow")
    assert section["quantization"] == "int8"
    assert section["interpreter_options"] == {"num_threads": None, "delegate": "xnnpack"}
    (image,) = section["inputs"]
    assert image["name"] == "image"
    assert image["shape"] == [-1, 8, 8, 1]
    assert image["dtype"] == "int8"
    assert image["scale"] > 0
    assert -128 <= image["zero_point"] <= 127
    assert section["outputs"][0]["name"] == "logits"
    assert section["outputs"][0]["dtype"] == "int8"


@pytest.mark.parametrize(
    ("name", "scheme"), [("float", "none"), ("int8", "int8"), ("float16", "float16")]
)
def test_quantization_scheme_is_read_from_the_tensors(models, tmp_path, name, scheme):
    mlflow_tflite.save_model(models[name], tmp_path / "model")

    assert _flavor(tmp_path / "model")["quantization"] == scheme
    assert mlflow_tflite.load_model(str(tmp_path / "model")).quantization == scheme


def test_dynamic_range_quantization_is_recognised(cnn, tmp_path):
    from tests.helpers import to_tflite

    mlflow_tflite.save_model(to_tflite(cnn, "dynamic"), tmp_path / "model")

    assert _flavor(tmp_path / "model")["quantization"] == "dynamic"


def test_metadata_is_kept_and_can_declare_the_quantization(float_model, tmp_path):
    metadata = {"quantization": "float16", "variant": "baseline"}
    mlflow_tflite.save_model(float_model, tmp_path / "model", metadata=metadata)

    assert Model.load(str(tmp_path / "model")).metadata == metadata
    assert _flavor(tmp_path / "model")["quantization"] == "float16"


def test_log_model_metadata_can_declare_the_quantization(tracking_uri, float_model):
    info = mlflow_tflite.log_model(float_model, metadata={"quantization": "dynamic"})

    assert info.flavors["tflite"]["quantization"] == "dynamic"
    assert info.metadata == {"quantization": "dynamic"}


def test_an_unknown_declared_quantization_is_refused(float_model, tmp_path):
    with pytest.raises(MlflowException, match="quantization.*int16x8.*'int4'"):
        mlflow_tflite.save_model(float_model, tmp_path / "model", metadata={"quantization": "int4"})
    assert not (tmp_path / "model").exists()


def test_interpreter_options_are_recorded_and_used_on_load(float_model, tmp_path):
    mlflow_tflite.save_model(float_model, tmp_path / "model", num_threads=2, delegate="builtin")

    model = mlflow_tflite.load_model(str(tmp_path / "model"))

    assert _flavor(tmp_path / "model")["interpreter_options"] == {
        "num_threads": 2,
        "delegate": "builtin",
    }
    assert (model.num_threads, model.delegate) == (2, "builtin")
    x = images(4)
    np.testing.assert_allclose(
        model.predict(x), raw_predict(float_model, {"image": x})["logits"], rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_threads": 0}, "num_threads must be a positive integer"),
        ({"num_threads": "4"}, "num_threads must be a positive integer"),
        ({"delegate": "gpu"}, "delegate must be one of xnnpack, builtin, reference"),
    ],
)
def test_invalid_interpreter_options_are_refused(float_model, tmp_path, options, message):
    with pytest.raises(MlflowException, match=message) as error:
        mlflow_tflite.save_model(float_model, tmp_path / "model", **options)

    assert error.value.error_code == "INVALID_PARAMETER_VALUE"
    assert not (tmp_path / "model").exists()


def test_models_saved_without_the_newer_keys_still_load(float_model, tmp_path):
    mlflow_tflite.save_model(float_model, tmp_path / "model")
    mlmodel = tmp_path / "model" / "MLmodel"
    content = yaml.safe_load(mlmodel.read_text())
    content["flavors"]["tflite"] = {"data": "model.tflite"}
    mlmodel.write_text(yaml.safe_dump(content))

    model = mlflow_tflite.load_model(str(tmp_path / "model"))

    assert model.delegate == "xnnpack"
    assert model.predict(images(2)).shape == (2, 10)


def test_saving_into_a_non_empty_directory_is_refused(float_model, tmp_path):
    mlflow_tflite.save_model(float_model, tmp_path / "model")

    with pytest.raises(MlflowException, match="already exists"):
        mlflow_tflite.save_model(float_model, tmp_path / "model")


def test_multi_output_model_round_trips(multi_io_tflite, tmp_path):
    mlflow_tflite.save_model(multi_io_tflite, tmp_path / "model")
    model = mlflow_tflite.load_model(str(tmp_path / "model"))
    x = multi_inputs(5)

    result = model.predict(x)

    expected = raw_predict(multi_io_tflite, x)
    assert set(result) == {"logits", "score"}
    for name in expected:
        np.testing.assert_allclose(result[name], expected[name])
