"""`mlflow-tflite schedule`: the deployment object and its cron schedule (never served here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_tflite.cli import main
from mlflow_tflite_flows.schedule import build_deployment, validate_cron


def test_the_deployment_runs_the_flow_on_the_cron_schedule_with_absolute_params(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    deployment = build_deployment("0 3 * * *", "nightly", "params.yaml", ["train.epochs=2"])
    assert deployment.name == "nightly"
    assert deployment.flow_name == "optimize"
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "0 3 * * *"
    assert deployment.parameters == {
        "params_path": str(tmp_path.resolve() / "params.yaml"),
        "overrides": ["train.epochs=2"],
    }


@pytest.mark.parametrize("expression", ["every day", "61 * * * *", "* * *", ""])
def test_an_invalid_cron_expression_is_rejected_with_an_example(expression: str):
    with pytest.raises(ValueError, match=r"invalid cron expression .*e\.g\. '0 3 \* \* \*'"):
        validate_cron(expression)


def test_the_command_rejects_a_bad_cron_in_one_line_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    params = tmp_path / "params.yaml"
    params.write_text("variants:\n  - {name: fp32}\n")
    assert main(["schedule", "--cron", "61 * * * *", "--params", str(params)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("mlflow-tflite schedule: error: invalid cron expression '61 * * * *'")


def test_the_command_rejects_bad_params_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    params = tmp_path / "params.yaml"
    params.write_text("variants:\n  - {name: fp32, convert: {quantization: int4}}\n")
    assert main(["schedule", "--cron", "0 3 * * *", "--params", str(params)]) == 1
    assert "variants[0].convert.quantization" in capsys.readouterr().err
