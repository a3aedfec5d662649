"""Shared fixtures: real MLflow stores, a real PostgreSQL-backed `mlflow server`."""

from __future__ import annotations

import os

# Before anything imports TensorFlow (tfmot needs Keras 2), and no telemetry: no network here.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")

import shutil  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.helpers import tiny_cnn, to_tflite  # noqa: E402
from tests.servers import MlflowServer, fresh_postgres_database, start_mlflow_server  # noqa: E402

# `mlflow.set_experiment` exports MLFLOW_EXPERIMENT_ID for subprocesses, and
# `mlflow.set_registry_uri(uri)` exports MLFLOW_REGISTRY_URI (`set_registry_uri(None)` leaves
# it set): a later test's `mlflow-tflite` subprocess then registered its champion in an
# earlier test's store. Without it, a subprocess's registry is its tracking store.
_MLFLOW_SELECTION = ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID",
                     "MLFLOW_REGISTRY_URI")


@pytest.fixture(autouse=True)
def _no_active_experiment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Start and leave each test without an experiment chosen on another tracking store.

    Not `monkeypatch.delenv`: for a variable absent at the start it records nothing, so
    a `set_experiment` in the test would leak its id into later module fixtures."""
    import mlflow.tracking.fluent
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    # The process-wide URIs too: `configure_tracking` in an in-process flow sets them, and
    # a later test's `MlflowClient(its_uri)` then read the registry of that earlier test's
    # store (MLflow prefers the global registry URI over the client's tracking URI).
    monkeypatch.setattr(registry_utils, "_registry_uri", registry_utils._registry_uri)
    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    saved = {name: os.environ.pop(name, None) for name in _MLFLOW_SELECTION}
    # `mlflow.set_tracking_uri(uri)` (the library's `configure_tracking`, called in-process
    # by a test) exports MLFLOW_TRACKING_URI too: kept for the test, undone after it, so a
    # later test's subprocess logs to its own store, not to this test's.
    saved["MLFLOW_TRACKING_URI"] = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _prefect_console_on_the_real_stderr() -> Iterator[None]:
    """Prefect builds its console handler on the `sys.stderr` of the moment it is first
    imported, which may be a test's capture that closes with that test; later tests' logs
    then fail to write (and the errors chain until Python loses stderr). Point it back."""
    import sys

    yield
    handlers = sys.modules.get("prefect.logging.handlers")
    if handlers is None:
        return
    import logging

    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in
                                      list(logging.root.manager.loggerDict))]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, handlers.PrefectConsoleHandler):
                handler.stream = sys.__stderr__  # not setStream: it flushes the closed one
                handler.console.file = sys.__stderr__


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite store, migrated once (migrating one takes seconds)."""
    import mlflow

    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    mlflow.MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def tracking_uri(
    _migrated_sqlite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A fresh SQLite tracking store (MLflow's default backend) for one test; cwd is tmp_path."""
    import mlflow

    shutil.copy(_migrated_sqlite, tmp_path / "mlflow.db")
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


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """A PostgreSQL database created for this test session and dropped after it."""
    with fresh_postgres_database() as uri:
        yield uri


@pytest.fixture(scope="session")
def mlflow_server(
    postgres_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowServer]:
    """A real `mlflow server` on 127.0.0.1, PostgreSQL backend, proxied artifacts."""
    artifacts = tmp_path_factory.mktemp("mlflow-artifacts")
    with start_mlflow_server(postgres_uri, artifacts) as server:
        yield server


@pytest.fixture
def server_tracking_uri(
    mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Point MLflow at the shared server for one test."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    mlflow.set_tracking_uri(mlflow_server.url)
    mlflow.set_registry_uri(mlflow_server.url)
    yield mlflow_server.url
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


# Tiny real models, built once per session and shared by every test module.
@pytest.fixture(scope="session")
def cnn():
    """tests.helpers.tiny_cnn: 8x8x1 digits, 10 logits, trained one epoch."""
    return tiny_cnn()


@pytest.fixture(scope="session")
def float_model(cnn) -> bytes:
    return to_tflite(cnn)


@pytest.fixture(scope="session")
def int8_model(cnn) -> bytes:
    """Full integer quantization with int8 input and output tensors."""
    return to_tflite(cnn, "int8", "int8")


@pytest.fixture(scope="session")
def float16_model(cnn) -> bytes:
    return to_tflite(cnn, "float16")


@pytest.fixture(scope="session")
def dataset():
    """The 8x8 digits as a real `Dataset` (compression and conversion tests)."""
    from tests import variant_helpers

    return variant_helpers.digits_dataset()


@pytest.fixture(scope="session")
def baseline():
    """Conv(8) -> Dense(64) -> Dense(10), trained once per session."""
    from tests import variant_helpers

    return variant_helpers.baseline()
