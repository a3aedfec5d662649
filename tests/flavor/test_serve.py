"""`mlflow models serve -m models:/NAME@champion` as a user runs it: MLflow's default
virtualenv manager builds an environment from the model's requirements alone, started from
a directory outside the checkout; real HTTP requests, concurrent ones included."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest

from tests.flavor.conftest import images
from tests.flavor.raw import raw_predict
from tests.flavor.serving import (
    CHECKOUT,
    COMPRESSION_STACK,
    Server,
    hammer,
    importable,
    missing_env_tool,
    mlflow_serve,
    post,
    register_champion,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(missing_env_tool() is not None, reason=str(missing_env_tool())),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, _migrated_sqlite: Path) -> Path:
    """A directory outside the checkout with a migrated SQLite store."""
    directory = tmp_path_factory.mktemp("serve")
    shutil.copy(_migrated_sqlite, directory / "mlflow.db")
    return directory


@pytest.fixture(scope="module")
def champion(workspace: Path, int8_model: bytes) -> str:
    return register_champion(workspace, int8_model, "served-digits")


@pytest.fixture(scope="module")
def server(workspace: Path, champion: str) -> Iterator[Server]:
    with mlflow_serve("models:/served-digits@champion", workspace,
                      MLFLOW_TRACKING_URI=champion) as running:
        yield running


def test_served_model_predicts_refuses_bad_shape_and_nan_with_400_and_keeps_serving(
    server, int8_model
):
    x = images(3)
    expected = raw_predict(int8_model, {"image": x})["logits"]
    url = f"{server.url}/invocations"

    status, body = post(url, json.dumps({"inputs": x.tolist()}).encode())
    assert status == 200, body
    np.testing.assert_allclose(np.array(body["predictions"], np.float32), expected)

    status, body = post(url, json.dumps({"inputs": x[:, :7].tolist()}).encode())
    assert status == 400, body
    assert "(-1, 8, 8, 1)" in body["message"]

    # NaN and inf (JSON NaN/Infinity, which the scoring server parses) are refused too.
    for value in (np.nan, np.inf):
        bad = x.copy()
        bad[0, 0, 0, 0] = value
        status, body = post(url, json.dumps({"inputs": bad.tolist()}).encode())
        assert status == 400, body
        assert "NaN or infinite" in body["message"]

    status, body = post(url, json.dumps({"inputs": {"image": x[:1].tolist()}}).encode())
    assert status == 200, body
    np.testing.assert_allclose(np.array(body["predictions"], np.float32), expected[:1])


def test_the_serving_environment_has_the_models_requirements_and_nothing_of_the_project(
    server, workspace
):
    env_dir = server.env_dir()
    found = importable(env_dir / "bin" / "python",
                       ("mlflow", "ai_edge_litert", "numpy", *COMPRESSION_STACK), workspace)

    assert {m: found[m] for m in ("mlflow", "ai_edge_litert", "numpy")} == dict.fromkeys(
        ("mlflow", "ai_edge_litert", "numpy"), True)
    assert {m: found[m] for m in COMPRESSION_STACK} == dict.fromkeys(COMPRESSION_STACK, False)
    # The scoring process runs the environment's Python, away from the checkout.
    scorers = [p for p in psutil.Process(server.process.pid).children(recursive=True)
               if p.cmdline()[:1] and p.cmdline()[0].startswith(str(env_dir))]
    assert scorers, "no process of the model's environment is serving"
    for process in scorers:
        assert not Path(process.cwd()).resolve().is_relative_to(CHECKOUT)
        assert str(CHECKOUT) not in process.environ().get("PYTHONPATH", "")


def test_concurrent_clients_get_right_answers_and_400s_never_a_500(server, int8_model):
    good = [images(2, seed=s) for s in range(4)]
    expected = [raw_predict(int8_model, {"image": x})["logits"] for x in good]

    load = hammer(server.url, good, expected, clients=8, requests=12)

    assert load.problems == []
    assert load.statuses == {"good": {200: 48}, "wrong_shape": {400: 24}, "nan": {400: 24}}
    status, _ = post(f"{server.url}/invocations",
                     json.dumps({"inputs": good[0].tolist()}).encode())
    assert status == 200
    assert server.process.poll() is None
