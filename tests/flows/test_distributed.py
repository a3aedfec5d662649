"""The flow on a Dask LocalCluster of 2 worker processes against a PostgreSQL-backed
`mlflow server`: the same MLflow contents as a threads run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from mlflow_tflite.tracking.layout import VERDICT_TAG
from tests.flows.conftest import TINY_PARAMS, child_runs

pytestmark = pytest.mark.slow

# Tags that name this run or this process, not what was measured.
RUN_SPECIFIC_TAGS = ("mlflow.parentRunId", "mlflow.runName", "mlflow.user", "mlflow.source",
                     "mlflow.log-model.history", "mlflow_tflite.model_uri")


def _shape(run: Any) -> tuple[str, list[str], dict[str, str]]:
    tags = {k: v for k, v in run.data.tags.items()
            if not k.startswith(RUN_SPECIFIC_TAGS)}
    # A latency gate's verdict quotes this run's timing ("refused: latency_vs_fp32 1.41 >
    # ..."), and may pass on one run and fail on the next: only its presence is the shape.
    tags[VERDICT_TAG] = VERDICT_TAG in tags
    return run.info.status, sorted(run.data.metrics), tags


def test_a_dask_cluster_logs_the_same_runs_as_threads(
    server_tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import mlflow

    from mlflow_tflite_flows.optimize import run_flow

    monkeypatch.chdir(tmp_path)
    variants = [*TINY_PARAMS["variants"],
                {"name": "float16", "convert": {"quantization": "float16"}}]
    params = {**TINY_PARAMS, "variants": variants,
              "benchmark": {**TINY_PARAMS["benchmark"], "cold_start": False},
              "mlflow": {"experiment": "flow-on-dask", "registered_model_name": "on-dask"},
              "promote": {"enabled": False},
              "runner": {"type": "threads", "workers": 2}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))

    threads = run_flow(tmp_path / "params.yaml", cache_dir=str(tmp_path / "cache-threads"))
    dask = run_flow(tmp_path / "params.yaml", runner="dask",
                    cache_dir=str(tmp_path / "cache-dask"))

    names = [v["name"] for v in variants]
    # The baseline was trained once per flow and every variant built on the workers.
    assert dask["ran"]["baseline"] and dask["ran"]["convert"] == names
    assert dask["ran"]["measure"] == names
    by_threads, by_dask = child_runs(threads["parent_run_id"]), child_runs(dask["parent_run_id"])
    assert sorted(by_dask) == sorted(by_threads) == sorted(names)
    for name in names:
        assert _shape(by_dask[name]) == _shape(by_threads[name]), name
        # Same data, seed and recipe: the same model, to the byte.
        assert by_dask[name].data.metrics["size_bytes"] == by_threads[name].data.metrics[
            "size_bytes"]
        # Artifacts went through the server's proxy: no shared disk needed.
        assert by_dask[name].info.artifact_uri.startswith("mlflow-artifacts:")
    parent = mlflow.MlflowClient().get_run(dask["parent_run_id"])
    assert parent.data.params["runner.type"] == "dask"
    model = mlflow.pyfunc.load_model(by_dask["int8"].data.tags["mlflow_tflite.model_uri"])
    assert np.asarray(model.predict(np.zeros((2, 8, 8, 1), np.float32))).shape == (2, 10)
