"""Models written by earlier layouts of the flavor (committed under fixtures/) still load:
release 0.1.0 (no carried loader) and the flat `flavor_*.py` modules (a carried loader
whose modules are named `flavor_pyfunc`, `flavor_model`, ...)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.models import Model

import mlflow_tflite
from tests.flavor.conftest import images
from tests.flavor.raw import raw_predict
from tests.flavor.serving import mlflow_serve, post, predict_without_the_package

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE = FIXTURES / "model_0_1_0"
FLAT = FIXTURES / "model_carried_flat"
FLAT_LOADER = "mlflow_tflite_loader_8d9c48f65c57"


@pytest.fixture(params=[FIXTURE, FLAT], ids=["0.1.0", "carried-flat"])
def old_model(request, tmp_path: Path) -> Path:
    """A copy of an old model directory (loading must not need the original place)."""
    return Path(shutil.copytree(request.param, tmp_path / "model"))


def test_the_fixture_has_the_0_1_0_layout():
    flavors = Model.load(str(FIXTURE)).flavors

    assert flavors["python_function"]["loader_module"] == "mlflow_tflite.flavor"
    assert flavors["tflite"]["code"] is None
    assert not (FIXTURE / "code").exists()


def test_the_flat_fixture_carries_the_flavor_modules_at_the_loader_packages_root():
    flavors = Model.load(str(FLAT)).flavors

    assert flavors["python_function"]["loader_module"] == f"{FLAT_LOADER}.flavor_pyfunc"
    assert flavors["python_function"]["code"] == flavors["tflite"]["code"] == "code"
    assert sorted(p.name for p in (FLAT / "code" / FLAT_LOADER).iterdir()) == [
        "__init__.py", "flavor_load.py", "flavor_model.py", "flavor_pyfunc.py", "litert.py"]


def test_an_old_model_loads_with_the_flavor_and_predicts_like_the_interpreter(old_model):
    content = (old_model / "model.tflite").read_bytes()

    model = mlflow_tflite.load_model(str(old_model))

    x = images(5)
    assert model.quantization == "int8"
    assert [d["name"] for d in model.input_details] == ["image"]
    np.testing.assert_allclose(model.predict(x), raw_predict(content, {"image": x})["logits"])


def test_an_old_model_loads_with_pyfunc_and_predicts_like_the_interpreter(old_model):
    content = (old_model / "model.tflite").read_bytes()

    model = mlflow.pyfunc.load_model(str(old_model))

    x = images(5)
    np.testing.assert_allclose(model.predict(x), raw_predict(content, {"image": x})["logits"])


def test_a_registered_old_model_loads_by_its_alias(tracking_uri, old_model):
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(old_model), "model")
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "old-digits")
    mlflow.MlflowClient().set_registered_model_alias("old-digits", "champion", version.version)
    content = (old_model / "model.tflite").read_bytes()

    x = images(2)
    expected = raw_predict(content, {"image": x})["logits"]
    np.testing.assert_allclose(mlflow_tflite.load_model("models:/old-digits@champion").predict(x),
                               expected)
    np.testing.assert_allclose(
        mlflow.pyfunc.load_model("models:/old-digits@champion").predict(x), expected
    )


def test_a_flat_layout_model_loads_without_the_package_or_tensorflow(tmp_path):
    # Its own carried loader serves it, as in an environment built from its requirements.
    model = Path(shutil.copytree(FLAT, tmp_path / "model"))
    x = images(3)

    outputs, loader = predict_without_the_package(str(model), x, tmp_path)

    assert loader == f"{FLAT_LOADER}.flavor_model"
    content = (model / "model.tflite").read_bytes()
    np.testing.assert_allclose(outputs, raw_predict(content, {"image": x})["logits"])


@pytest.mark.slow
def test_a_0_1_0_model_serves_where_the_package_is_installed(tmp_path):
    # It names mlflow_tflite.flavor as its loader, so it serves in an environment that has
    # the package (the project's, `--env-manager local`); saving it again carries the loader.
    old_model = Path(shutil.copytree(FIXTURE, tmp_path / "model"))
    content = (old_model / "model.tflite").read_bytes()
    x = images(2)

    with mlflow_serve(str(old_model), tmp_path, env_manager="local", timeout=180) as server:
        status, body = post(f"{server.url}/invocations", json.dumps({"inputs": x.tolist()})
                            .encode())

    assert status == 200, body
    np.testing.assert_allclose(np.array(body["predictions"], np.float32),
                               raw_predict(content, {"image": x})["logits"])
