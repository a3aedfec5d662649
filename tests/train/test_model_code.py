"""A model file whose Lambda layer carries Python code runs it only with
`train.trust_model_code: true`: every loader is in Keras safe mode by default, and the
refusal comes while the params are checked (real tf_keras, Keras 3, MLflow, Prefect)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlflow_tflite.checks import load_checked_params
from mlflow_tflite.config import ParamsError
from mlflow_tflite.train import ModelError, build_baseline_model
from mlflow_tflite.train.keras3 import load_keras3
from mlflow_tflite.train.model_code import code_layers


def _marking_lambda(marker: Path):
    path = str(marker)  # a closure cell: Keras saves it with the bytecode
    return lambda x: (open(path, "a").close(), x)[1]  # noqa: SIM115


def tf_keras_lambda_model(path: Path, marker: Path) -> Path:
    """An 8x8x1 -> 10 tf_keras classifier with a Lambda layer `marks` that touches
    `marker` whenever its code runs (loading a model runs it once to build the layer)."""
    import tf_keras as keras

    model = keras.Sequential([
        keras.layers.InputLayer((8, 8, 1)),
        keras.layers.Lambda(_marking_lambda(marker), name="marks"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    if path.suffix in (".keras", ".h5"):
        model.save(path)
    else:
        model.save(path, save_format="tf")
    marker.unlink(missing_ok=True)  # saving traced the layer
    return path


def keras3_lambda_model(path: Path, marker: Path) -> Path:
    import keras

    model = keras.Sequential([keras.Input((8, 8, 1)),
                              keras.layers.Lambda(_marking_lambda(marker), name="marks3"),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    model.save(path)
    marker.unlink(missing_ok=True)
    return path


@pytest.mark.parametrize("name", ["model.keras", "model.h5", "saved_model"])
def test_a_tf_keras_lambda_is_refused_in_safe_mode_and_loads_when_trusted(
    tmp_path: Path, name: str
):
    marker = tmp_path / "marker"
    model = tf_keras_lambda_model(tmp_path / name, marker)
    assert code_layers(model) == ["marks"]

    if name == "saved_model":
        # Safe mode refuses the layer's config and tf_keras revives it from the traced
        # graph instead: no Python runs (the params check refuses the file first anyway).
        build_baseline_model(str(model), (8, 8, 1), 10)
    else:
        with pytest.raises(ModelError) as refused:
            build_baseline_model(str(model), (8, 8, 1), 10)
        assert "`marks`" in str(refused.value) and "trust_model_code" in str(refused.value)
        assert "\n" not in str(refused.value)
    assert not marker.exists()

    assert build_baseline_model(str(model), (8, 8, 1), 10, trust_code=True).output_shape == (
        None, 10)
    assert marker.exists()


def test_a_keras3_lambda_is_refused_in_safe_mode_and_loads_when_trusted(tmp_path: Path):
    marker = tmp_path / "marker"
    model = keras3_lambda_model(tmp_path / "model3.keras", marker)
    assert code_layers(model) == ["marks3"]

    with pytest.raises(ModelError, match="`marks3`.*train.trust_model_code"):
        load_keras3(model)
    assert not marker.exists()
    assert load_keras3(model, trust_code=True).outputs
    assert marker.exists()


def test_a_model_without_code_has_no_code_layers(tmp_path: Path):
    import tf_keras as keras

    path = tmp_path / "plain.keras"
    keras.Sequential([keras.layers.InputLayer((8, 8, 1)), keras.layers.Flatten(),
                      keras.layers.Dense(10)]).save(path)
    assert code_layers(path) == []
    assert code_layers("builtin") == []


def _params(tmp_path: Path, model: Path, **train) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({
        "data": {"source": "digits", "seed": 0},
        "train": {"model": str(model), "epochs": 1, **train},
        "variants": [{"name": "fp32", "convert": {"quantization": "none"}}],
        "benchmark": {"delegates": ["xnnpack"], "warmup_runs": 1, "timed_runs": 3,
                      "cold_start": False},
        "mlflow": {"experiment": "trust", "registered_model_name": "trust"},
    }))
    return path


def test_the_params_check_refuses_the_file_in_one_line_naming_layer_and_key(tmp_path: Path):
    marker = tmp_path / "marker"
    model = tf_keras_lambda_model(tmp_path / "model.keras", marker)
    params = _params(tmp_path, model)

    with pytest.raises(ParamsError) as refused:
        load_checked_params(params)
    assert str(refused.value) == (
        f"{params}: train.model: {model}: Lambda layer `marks` carries Python code that "
        "would run on loading; Keras safe mode refuses it (set train.trust_model_code: true "
        "only for a model you wrote or trust)")
    assert load_checked_params(params, ["train.trust_model_code=true"]).train.trust_model_code
    assert not marker.exists()


def test_run_fails_in_one_line_by_default_before_any_work(
    tracking_uri: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
):
    import mlflow

    from mlflow_tflite.cli import main

    marker = tmp_path / "marker"
    params = _params(tmp_path, tf_keras_lambda_model(tmp_path / "model.keras", marker))

    assert main(["run", "--params", str(params)]) == 1
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mlflow-tflite run: error: ")
    assert "`marks`" in err[0] and "train.trust_model_code" in err[0]
    assert not marker.exists()
    assert not (tmp_path / "data").exists()
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []


# No capture fixture: Prefect's console handler would bind to the captured stream.
@pytest.mark.slow
def test_run_runs_the_lambda_model_with_the_opt_in(tracking_uri: str, tmp_path: Path):
    from prefect.testing.utilities import prefect_test_harness

    from mlflow_tflite.cli import main

    marker = tmp_path / "marker"
    params = _params(tmp_path, tf_keras_lambda_model(tmp_path / "model.keras", marker))
    with prefect_test_harness(server_startup_timeout=180):
        assert main(["run", "--params", str(params),
                     "--set", "train.trust_model_code=true"]) == 0
    assert marker.exists()
