"""Fixtures for registry tests: one tiny real .tflite, both backends, unique model names."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping

import pytest

from tests.helpers import tiny_cnn, to_tflite
from tests.registry.flowruns import make_flow_run


@pytest.fixture(scope="session")
def tflite_model() -> bytes:
    return to_tflite(tiny_cnn(), "int8")


@pytest.fixture
def sqlite_uri(tracking_uri: str) -> str:
    """A fresh SQLite store for one test (the shared `tracking_uri`)."""
    return tracking_uri


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
