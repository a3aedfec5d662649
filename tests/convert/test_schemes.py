"""Every registered scheme: a model the flavor round-trips and serves, close to float.

Parametrized over `scheme_names()`, so a new scheme module is tested without touching
this file. The SNR floor, 10 dB (error power at most a tenth of the output power), holds
for int4 weights on the tiny digits model (about 15 dB); 8-bit schemes reach 30+ dB.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pytest
import yaml

import mlflow_tflite
from mlflow_tflite.config.variants import ConvertConfig
from mlflow_tflite.convert import ConversionError, convert_variant
from mlflow_tflite.convert.quantizer import weight_recipe
from mlflow_tflite.flavor.spec import infer_quantization
from mlflow_tflite.plugins.scheme import AI_EDGE_QUANTIZER, all_schemes, get_scheme
from tests.servers import BIN_DIR, free_port, venv_env, wait_for_http

SNR_FLOOR_DB = 10.0


def snr_db(reference: np.ndarray, output: np.ndarray) -> float:
    noise = np.mean((output - reference) ** 2)
    return float(10 * np.log10(np.mean(reference**2) / max(noise, 1e-30)))


@pytest.fixture(scope="module")
def recipe_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's recipe: int8 weight-only, written as ai-edge-quantizer's JSON."""
    path = tmp_path_factory.mktemp("recipe") / "recipe.json"
    path.write_text(json.dumps(weight_recipe(8, dynamic=False)))
    return path


def config_for(name: str, recipe_file: Path) -> ConvertConfig:
    extra = {"recipe": str(recipe_file)} if name == "recipe" else {}
    return ConvertConfig(quantization=name, **extra)


@pytest.fixture(scope="module")
def converted(baseline: Any, dataset: Any, recipe_file: Path) -> dict[str, Any]:
    return {
        s.name: convert_variant(baseline, config_for(s.name, recipe_file), dataset)
        for s in all_schemes()
    }


@pytest.mark.parametrize("name", [s.name for s in all_schemes()])
def test_each_scheme_round_trips_through_the_flavor_close_to_float(
    name: str, converted: dict[str, Any], dataset: Any, tmp_path: Path
) -> None:
    conversion = converted[name]
    path = tmp_path / "model"
    mlflow_tflite.save_model(conversion.flatbuffer, path, metadata=conversion.metadata())
    section = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["tflite"]
    assert section["quantization"] == name
    if get_scheme(name).engine == AI_EDGE_QUANTIZER:
        assert section["recipe"] == conversion.recipe
    x = dataset.x_test[:64]
    reference = converted["none"].flatbuffer
    expected = mlflow.pyfunc.load_model(str(path)).predict(x)
    float_out = mlflow_tflite.load_model(str(_saved(reference, tmp_path))).predict(x)
    assert snr_db(np.asarray(float_out), np.asarray(expected)) > SNR_FLOOR_DB


@pytest.mark.parametrize("name", [s.name for s in all_schemes() if s.name != "recipe"])
def test_each_scheme_is_recognised_from_the_model_alone(
    name: str, converted: dict[str, Any]
) -> None:
    assert infer_quantization(converted[name].flatbuffer) == name


def _saved(flatbuffer: bytes, tmp_path: Path) -> Path:
    path = tmp_path / "float"
    if not path.exists():
        mlflow_tflite.save_model(flatbuffer, path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", [s.name for s in all_schemes() if s.engine == AI_EDGE_QUANTIZER]
)
def test_each_quantizer_scheme_is_served_by_mlflow_models_serve(
    name: str, converted: dict[str, Any], dataset: Any, tmp_path: Path
) -> None:
    path = tmp_path / "model"
    mlflow_tflite.save_model(converted[name].flatbuffer, path)
    port = free_port()
    log_file = tmp_path / "serve.log"
    command = [str(BIN_DIR / "mlflow"), "models", "serve", "-m", str(path),
               "--env-manager", "local", "--host", "127.0.0.1", "-p", str(port)]
    with open(log_file, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   env=venv_env(), cwd=tmp_path, start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", process, log_file)
        x = dataset.x_test[:4]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"inputs": x.tolist()}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            served = np.asarray(json.loads(response.read())["predictions"])
        local = mlflow.pyfunc.load_model(str(path)).predict(x)
        np.testing.assert_allclose(served, np.asarray(local), rtol=1e-5, atol=1e-5)
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_float_tflite_takes_the_quantizer_schemes_only(converted: dict[str, Any]) -> None:
    float_tflite = converted["none"].flatbuffer
    conversion = convert_variant(float_tflite, ConvertConfig(quantization="int4_weight_only"))
    assert infer_quantization(conversion.flatbuffer) == "int4_weight_only"
    with pytest.raises(ConversionError, match="^quantization int8 needs a Keras model; a .tflite"):
        convert_variant(float_tflite, ConvertConfig(quantization="int8"))
