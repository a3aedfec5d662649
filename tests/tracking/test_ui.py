"""Links into the MLflow UI and the experiment kind the UI opens on (real SQLite store)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlflow_tflite import tracking
from mlflow_tflite.tracking.ui import EXPERIMENT_KIND_TAG
from tests.tracking.test_runs import PARAMS, _ok


def test_links_open_the_experiments_runs_on_the_model_training_pages():
    assert tracking.experiment_url("http://127.0.0.1:5000/", "7") == (
        "http://127.0.0.1:5000/#/experiments/7?workflowType=machine_learning"
    )
    assert tracking.experiment_url("http://h:5000", "7", "abc") == (
        "http://h:5000/#/experiments/7/runs/abc?workflowType=machine_learning"
    )
    assert tracking.ui_hint("sqlite:////x/mlflow.db", "3") == (
        "mlflow ui --backend-store-uri sqlite:////x/mlflow.db, then open "
        "http://127.0.0.1:5000/#/experiments/3?workflowType=machine_learning"
    )
    assert tracking.ui_hint("http://tracking:5000", "3") == (
        "open http://tracking:5000/#/experiments/3?workflowType=machine_learning"
    )


def test_a_created_experiment_is_a_custom_model_development_experiment(tracking_uri: str):
    from mlflow import MlflowClient

    experiment_id = tracking.ensure_experiment("new")
    tags = MlflowClient().get_experiment(experiment_id).tags
    assert tags[EXPERIMENT_KIND_TAG] == "custom_model_development"


def test_an_existing_experiment_gets_the_kind_only_when_it_has_none(tracking_uri: str):
    from mlflow import MlflowClient

    client = MlflowClient()
    bare = client.create_experiment("bare")
    genai = client.create_experiment("genai", tags={EXPERIMENT_KIND_TAG: "genai_development"})
    assert tracking.ensure_experiment("bare") == bare
    assert tracking.ensure_experiment("genai") == genai
    assert client.get_experiment(bare).tags[EXPERIMENT_KIND_TAG] == "custom_model_development"
    assert client.get_experiment(genai).tags[EXPERIMENT_KIND_TAG] == "genai_development"


def test_the_variants_table_is_logged_as_an_mlflow_table_beside_the_reports(
    tracking_uri: str, tmp_path: Path
):
    import mlflow

    experiment = tracking.ensure_experiment("tests")
    parent = tracking.start_parent_run(experiment, "optimize-test", {})
    records = [_ok(tmp_path / "unused.tflite")]
    paths = tracking.write_reports(records, tmp_path / "reports")
    tracking.log_report(parent, paths, tracking.variant_rows(records))
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(parent)}
    assert artifacts == {"pareto.png", "variants.csv", "variants.md", "variants.json"}
    # The UI finds tables by the run's `mlflow.loggedArtifacts` tag, as load_table does.
    table = mlflow.MlflowClient().load_table(experiment, "variants.json", run_ids=[parent])
    assert isinstance(table, pd.DataFrame)
    assert list(table["variant"]) == [PARAMS["variants"][0]["name"]]
    assert table["size_bytes"].tolist() == [0.5]
    # Sortable raw numbers, each interval's bounds in the columns after its metric.
    columns = list(table.columns)
    for name in ("accuracy", "accuracy_delta", "agreement", "latency_vs_fp32"):
        at = columns.index(name)
        assert columns[at + 1:at + 3] == [f"{name}_ci_low", f"{name}_ci_high"], name
