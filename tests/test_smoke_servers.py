import mlflow
import pytest


@pytest.mark.slow
def test_mlflow_server_on_postgres_records_a_run(server_tracking_uri: str) -> None:
    mlflow.set_experiment("smoke")
    with mlflow.start_run() as run:
        mlflow.log_metric("x", 1.0)
    assert mlflow.get_run(run.info.run_id).data.metrics["x"] == 1.0
