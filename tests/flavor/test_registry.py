"""Model Registry round trip and the environment a logged model declares."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import yaml
from mlflow import MlflowClient

import mlflow_tflite
from tests.flavor.conftest import images
from tests.flavor.raw import raw_predict


def test_registered_model_loads_by_alias(tracking_uri, int8_model):
    with mlflow.start_run():
        info = mlflow_tflite.log_model(int8_model, name="model", registered_model_name="digits")
    client = MlflowClient()
    client.set_registered_model_alias("digits", "champion", info.registered_model_version)

    native = mlflow_tflite.load_model("models:/digits@champion")
    served = mlflow.pyfunc.load_model("models:/digits@champion")

    x = images(4)
    expected = raw_predict(int8_model, {"image": x})["logits"]
    np.testing.assert_allclose(native.predict(x), expected)
    np.testing.assert_allclose(served.predict(x), expected)
    version = client.get_model_version_by_alias("digits", "champion")
    assert int(version.version) == info.registered_model_version == 1
    assert info.model_id in version.source


def test_alias_moves_to_a_newer_version(tracking_uri, float_model, float16_model):
    first = mlflow_tflite.log_model(float_model, registered_model_name="digits")
    second = mlflow_tflite.log_model(float16_model, registered_model_name="digits")
    client = MlflowClient()
    client.set_registered_model_alias("digits", "champion", first.registered_model_version)
    client.set_registered_model_alias("digits", "champion", second.registered_model_version)

    model = mlflow_tflite.load_model("models:/digits@champion")

    assert second.registered_model_version == 2
    assert model.quantization == "float16"


def test_default_requirements_are_litert_and_numpy_only():
    requirements = mlflow_tflite.get_default_pip_requirements()

    assert [r.split("==")[0] for r in requirements] == ["ai-edge-litert", "numpy"]
    assert all("==" in r for r in requirements)
    assert not any("tensorflow" in r for r in requirements)
    conda = mlflow_tflite.get_default_conda_env()
    assert set(requirements) <= set(conda["dependencies"][-1]["pip"])


def test_saved_requirements_do_not_include_tensorflow(float_model, tmp_path):
    mlflow_tflite.save_model(float_model, tmp_path / "model")

    requirements = (tmp_path / "model" / "requirements.txt").read_text().split()
    conda = yaml.safe_load((tmp_path / "model" / "conda.yaml").read_text())

    assert [r.split("==")[0] for r in requirements] == ["mlflow", "ai-edge-litert", "numpy"]
    assert not any("tensorflow" in line for line in (tmp_path / "model" / "conda.yaml").open())
    assert "ai-edge-litert" in str(conda["dependencies"])
    assert (tmp_path / "model" / "python_env.yaml").exists()


def test_extra_and_replaced_pip_requirements(float_model, tmp_path):
    mlflow_tflite.save_model(float_model, tmp_path / "extra", extra_pip_requirements=["pillow"])
    mlflow_tflite.save_model(float_model, tmp_path / "own", pip_requirements=["ai-edge-litert"])

    extra = Path(tmp_path / "extra" / "requirements.txt").read_text().split()
    own = Path(tmp_path / "own" / "requirements.txt").read_text().split()

    assert "pillow" in extra
    assert any(r.startswith("ai-edge-litert==") for r in extra)
    assert own == ["mlflow==" + mlflow.__version__, "ai-edge-litert"]


def test_logged_model_records_its_requirements(tracking_uri, float_model):
    info = mlflow_tflite.log_model(float_model)

    path = mlflow.pyfunc.get_model_dependencies(info.model_uri)

    assert any(line.startswith("ai-edge-litert==") for line in Path(path).read_text().split())
