"""The flavor against a real `mlflow server` (PostgreSQL, proxied artifacts) over HTTP."""

from __future__ import annotations

import uuid

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

import mlflow_tflite
from tests.flavor.conftest import multi_inputs
from tests.flavor.raw import raw_predict


@pytest.mark.slow
def test_log_register_alias_and_load_through_the_tracking_server(
    server_tracking_uri, multi_io_tflite, tmp_path
):
    experiment_id = MlflowClient().create_experiment(f"flavor-server-{uuid.uuid4().hex[:8]}")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        info = mlflow_tflite.log_model(
            multi_io_tflite, name="model", registered_model_name="flavor-server-multi-io"
        )
    client = MlflowClient()
    client.set_registered_model_alias(
        "flavor-server-multi-io", "champion", info.registered_model_version
    )

    model = mlflow_tflite.load_model(
        "models:/flavor-server-multi-io@champion", dst_path=str(tmp_path)
    )

    assert mlflow.get_run(run.info.run_id).info.status == "FINISHED"
    # Proxied artifacts: the client talks only HTTP to the server.
    assert mlflow.get_logged_model(info.model_id).artifact_location.startswith("mlflow-artifacts:")
    x = multi_inputs(6)
    result, expected = model.predict(x), raw_predict(multi_io_tflite, x)
    for name in ("logits", "score"):
        np.testing.assert_allclose(result[name], expected[name])
    served = mlflow.pyfunc.load_model("models:/flavor-server-multi-io@champion")
    np.testing.assert_allclose(served.predict(x)["score"], expected["score"])
