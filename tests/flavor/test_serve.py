"""`mlflow models serve -m models:/NAME@ALIAS`: predictions, a 400 for bad input, still up."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

import mlflow_tflite
from tests.flavor.conftest import images
from tests.flavor.raw import raw_predict
from tests.servers import BIN_DIR, free_port, venv_env, wait_for_http


def _post(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture
def served_model(tracking_uri: str, int8_model: bytes, tmp_path: Path):
    """The int8 model registered, aliased and served on a free loopback port."""
    info = mlflow_tflite.log_model(int8_model, registered_model_name="served-digits")
    MlflowClient().set_registered_model_alias(
        "served-digits", "champion", info.registered_model_version
    )
    port = free_port()
    env = venv_env(MLFLOW_TRACKING_URI=tracking_uri)
    log_file = tmp_path / "serve.log"
    with open(log_file, "w") as log:
        process = subprocess.Popen(
            [
                str(BIN_DIR / "mlflow"),
                "models",
                "serve",
                "-m",
                "models:/served-digits@champion",
                "--env-manager",
                "local",
                "--host",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/ping", process, log_file)
        yield url, log_file
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_served_model_predicts_refuses_bad_shape_and_nan_with_400_and_keeps_serving(
    served_model, int8_model
):
    url, log_file = served_model
    x = images(3)
    expected = raw_predict(int8_model, {"image": x})["logits"]

    status, body = _post(f"{url}/invocations", {"inputs": x.tolist()})
    assert status == 200, body
    np.testing.assert_allclose(np.array(body["predictions"], np.float32), expected)

    status, body = _post(f"{url}/invocations", {"inputs": x[:, :7].tolist()})
    assert status == 400, body
    assert "(-1, 8, 8, 1)" in body["message"]

    # NaN and inf (JSON NaN/Infinity, which the scoring server parses) are refused too.
    for value in (np.nan, np.inf):
        bad = x.copy()
        bad[0, 0, 0, 0] = value
        status, body = _post(f"{url}/invocations", {"inputs": bad.tolist()})
        assert status == 400, body
        assert "NaN or infinite" in body["message"]

    status, body = _post(f"{url}/invocations", {"inputs": {"image": x[:1].tolist()}})
    assert status == 200, body
    np.testing.assert_allclose(np.array(body["predictions"], np.float32), expected[:1])
