"""The flow against an `mlflow server` (PostgreSQL backend, proxied artifacts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.flows.conftest import TINY_PARAMS

pytestmark = pytest.mark.slow


def test_the_flow_logs_and_promotes_through_a_tracking_server(
    server_tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import mlflow

    from mlflow_tflite_flows.optimize import run_flow

    monkeypatch.chdir(tmp_path)
    params = {**TINY_PARAMS, "variants": TINY_PARAMS["variants"][:2],
              "benchmark": {**TINY_PARAMS["benchmark"], "cold_start": False},
              "mlflow": {"experiment": "flow-on-server", "registered_model_name": "on-server"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))

    result = run_flow(tmp_path / "params.yaml")

    assert result["tracking_uri"] == server_tracking_uri
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
    client = mlflow.MlflowClient()
    children = client.search_runs(
        [client.get_experiment_by_name("flow-on-server").experiment_id],
        f"tags.mlflow.parentRunId = '{result['parent_run_id']}'",
    )
    assert {r.data.tags["mlflow_tflite.variant"] for r in children} == {"fp32", "int8"}
    champion = mlflow.pyfunc.load_model("models:/on-server@champion")
    x = np.zeros((2, 8, 8, 1), dtype=np.float32)
    assert np.asarray(champion.predict(x)).shape == (2, 10)
