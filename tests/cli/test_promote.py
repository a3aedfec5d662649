"""`mlflow-tflite promote` and `mlflow-tflite rollback` end to end on SQLite."""

# The registry tests' fixtures are imported below, so test arguments "redefine" them.
# ruff: noqa: F811

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from mlflow_tflite.cli import main
from tests.registry.conftest import (  # noqa: F401 - fixtures shared with the registry tests
    flow,
    model_name,
    sqlite_uri,
    tflite_model,
)
from tests.registry.flowruns import metrics

PARAMS = {
    "variants": [{"name": "fp32", "convert": {"quantization": "none"}}],
    "mlflow": {"experiment": "promote-tests"},
    "promote": {"objective": ["size_bytes"], "constraints": {"max_accuracy_drop": 0.02}},
}


@pytest.fixture
def params_file(tmp_path: Path, model_name: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(
        yaml.safe_dump(
            {**PARAMS, "mlflow": {**PARAMS["mlflow"], "registered_model_name": model_name}}
        )
    )
    return path


def test_promote_prints_the_decision_for_the_latest_flow_run(
    sqlite_uri, flow, params_file, model_name, capsys
) -> None:
    flow({"old": metrics(size_bytes=1)})
    latest = flow({"int8": metrics(size_bytes=9_000), "fp32": metrics(size_bytes=30_000)})
    assert main(["promote", "--params", str(params_file)]) == 0
    out = capsys.readouterr().out
    assert f"Promotion of flow run {latest}" in out
    assert "int8 wins on size_bytes" in out
    version = MlflowClient().get_model_version_by_alias(model_name, "champion")
    assert version.tags["mlflow_tflite.flow_run"] == latest


def test_promote_dry_run_with_run_id_changes_nothing(
    sqlite_uri, flow, params_file, model_name, capsys
) -> None:
    parent = flow({"int8": metrics()})
    code = main(
        [
            "promote",
            "--model-name",
            model_name,
            "--run-id",
            parent,
            "--dry-run",
            "--json",
            "--params",
            str(params_file),
        ]
    )
    assert code == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["dry_run"] and decision["targets"][0]["outcome"] == "promoted"
    assert model_name not in [m.name for m in MlflowClient().search_registered_models()]


@pytest.mark.parametrize(
    ("argv", "params", "expected"),
    [
        (["--run-id", "0" * 32], PARAMS, "Run with id=00000000000000000000000000000000 not found"),
        (
            [],
            {**PARAMS, "mlflow": {"experiment": "nowhere"}},
            "no MLflow experiment named 'nowhere'; run `mlflow-tflite run` first",
        ),
        (
            [],
            {**PARAMS, "promote": {"objective": ["speed"]}},
            "promote.objective[0]: unknown objective 'speed'",
        ),
    ],
)
def test_promote_errors_are_one_line(sqlite_uri, tmp_path, argv, params, expected, capsys) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(params))
    assert main(["promote", "--params", str(path), *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mlflow-tflite promote: error: ")
    assert expected in err
    assert err.count("\n") == 1


def test_promote_refuses_a_run_that_is_not_a_flow_run(
    sqlite_uri, flow, params_file, capsys
) -> None:
    parent = flow({"v": metrics()})
    (child,) = MlflowClient().search_runs(
        [MlflowClient().get_run(parent).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent}'",
    )
    assert main(["promote", "--run-id", child.info.run_id, "--params", str(params_file)]) == 1
    assert "has no variant runs (is it a flow's parent run?)" in capsys.readouterr().err


def test_rollback_moves_the_champion_back_and_says_so(
    sqlite_uri, flow, params_file, model_name, capsys
) -> None:
    for size in (9_000, 1_000):
        parent = flow({"v": metrics(size_bytes=size)})
        assert main(["promote", "--run-id", parent, "--params", str(params_file)]) == 0
    capsys.readouterr()
    code = main(["rollback", "--params", str(params_file), "--reason", "crashes on Pixel 6"])
    assert code == 0
    assert "from version 2 back to version 1" in capsys.readouterr().out
    restored = MlflowClient().get_model_version(model_name, "1")
    assert restored.tags["mlflow_tflite.rollback.reason"] == "crashes on Pixel 6"


def test_rollback_with_nothing_to_roll_back_to_is_one_line(
    sqlite_uri, flow, params_file, model_name, capsys
) -> None:
    main(["promote", "--run-id", flow({"v": metrics()}), "--params", str(params_file)])
    assert main(["rollback", "--model-name", model_name, "--params", str(params_file)]) == 1
    err = capsys.readouterr().err
    assert "has no previous champion to roll back to: it was the first" in err
    assert main(["rollback", "--target", "gpu", "--params", str(params_file)]) == 1
    assert "has no version with alias 'champion-gpu'" in capsys.readouterr().err
