"""Real Prefect (a session-scoped test harness), tiny params files for whole flows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# digits, one epoch, a handful of timed runs: a whole flow in well under a minute.
TINY_PARAMS: dict[str, Any] = {
    "data": {"source": "digits", "seed": 0},
    "train": {"epochs": 1, "batch_size": 64, "seed": 0},
    "variants": [
        {"name": "fp32", "convert": {"quantization": "none"}},
        {"name": "int8", "convert": {"quantization": "int8", "io_type": "int8"}},
        {
            "name": "pruned-dynamic",
            "compress": {"prune": {"final_sparsity": 0.5, "epochs": 1}},
            "convert": {"quantization": "dynamic"},
        },
    ],
    "benchmark": {
        "delegates": ["xnnpack", "builtin"],
        "warmup_runs": 1,
        "timed_runs": 5,
        "cold_start": True,
    },
    "mlflow": {"experiment": "flow-tests", "registered_model_name": "digits-tests"},
    "promote": {"enabled": True},
}

# The flow tests' user baseline has a SIN op, which TFLite cannot quantize to 16x8: this
# variant fails for real in the converter while the others build.
USER_MODEL = "tests.flows.models:sine_features"
FAILING_VARIANT: dict[str, Any] = {
    "name": "int16x8",
    "convert": {"quantization": "int16x8"},
}


def child_runs(parent_run_id: str) -> dict[str, Any]:
    """The variant child runs of a flow's parent run, by variant name."""
    from mlflow import MlflowClient

    client = MlflowClient()
    parent = client.get_run(parent_run_id)
    runs = client.search_runs([parent.info.experiment_id],
                              f"tags.mlflow.parentRunId = '{parent_run_id}'")
    return {run.data.tags["mlflow_tflite.variant"]: run for run in runs}


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API for the session, as Prefect's own tests do."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


def module_workspace(
    tmp_path_factory: pytest.TempPathFactory, prefix: str
) -> Iterator[tuple[Path, str]]:
    """A module's working directory with its own SQLite store: cwd and
    MLFLOW_TRACKING_URI point there while the module runs; yields (root, uri)."""
    import mlflow

    root = tmp_path_factory.mktemp(prefix)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        yield root, uri
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
