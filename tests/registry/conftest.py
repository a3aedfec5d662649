"""Fixtures for registry tests: one tiny real .tflite, both backends, unique model names."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.helpers import tiny_cnn, to_tflite
from tests.registry.flowruns import make_flow_run


@pytest.fixture(scope="session")
def tflite_model() -> bytes:
    return to_tflite(tiny_cnn(), "int8")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite store with MLflow's tables already created (migrations take ~4 s)."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("sqlite-template") / "mlflow.db"
    uri = f"sqlite:///{path}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.search_experiments()
    client.search_registered_models()
    return path


@pytest.fixture
def sqlite_uri(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A fresh SQLite store for one test: a copy of the template, as `tracking_uri` sets up."""
    import mlflow

    shutil.copy(sqlite_template, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture(params=["sqlite", pytest.param("server", marks=pytest.mark.slow)])
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite (MLflow's default store), then a real `mlflow server` on PostgreSQL."""
    fixture = "sqlite_uri" if request.param == "sqlite" else "server_tracking_uri"
    return request.getfixturevalue(fixture)


@pytest.fixture
def model_name() -> str:
    # The server is shared by the session, so every test gets its own registered model.
    return f"promote-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def flow(tflite_model: bytes) -> Callable[..., str]:
    """`flow({"int8": metrics(...)}, data_version=..., failed=[...])` -> parent run id."""

    def build(variants: Mapping[str, Mapping[str, float]], **kwargs) -> str:
        return make_flow_run(tflite_model, variants, **kwargs)

    return build
