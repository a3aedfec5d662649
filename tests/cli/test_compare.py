"""`mlflow-tflite compare`: a logged flow run's variants as a table, CSV or markdown."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from mlflow_tflite import tracking
from mlflow_tflite.cli import main
from mlflow_tflite.tracking import VariantRecord

PARAMS = {"variants": [{"name": "fp32"}, {"name": "int8"}, {"name": "broken"}]}


def _flow_run(name: str, accuracy: float) -> str:
    experiment = tracking.ensure_experiment("mlflow-tflite")
    parent = tracking.start_parent_run(experiment, name, {"data_version": "v1"})
    tracking.log_parent(parent, PARAMS, baseline_accuracy=0.98)
    common = {"data_version": "v1", "git_commit": "abc"}
    # Children without models: compare reads tags and metrics only.
    # int8's accuracy change with its logged 95% interval, which compare shows.
    intervals = {"int8": {"accuracy_delta": -0.004, "accuracy_delta_ci_low": -0.011,
                          "accuracy_delta_ci_high": 0.003}}
    for variant, size in (("fp32", 400_000), ("int8", 100_000)):
        record = VariantRecord(variant, "none", variant, delegate="xnnpack",
                               metrics={"size_bytes": size, "accuracy": accuracy,
                                        **intervals.get(variant, {})})
        record.run_id = tracking.runs.start_parent_run(experiment, variant, {})
        tracking.runs._log_batch(record.run_id, metrics=record.metrics, tags={
            **common, "mlflow.parentRunId": parent, tracking.runs.VARIANT_TAG: variant,
            tracking.runs.ROLE_TAG: "variant", "technique": "none", "quantization": variant,
            "delegate": "xnnpack"})
        tracking.runs.end_run(record.run_id, ok=True)
    broken = VariantRecord("broken", "prune", "int8", status="failed",
                           error="CompressionError: nothing to prune", failed_step="compress")
    tracking.log_variant(parent, broken, common_tags=common)
    tracking.runs.end_run(parent, ok=True)
    return parent


@pytest.fixture
def runs(tracking_uri: str) -> tuple[str, str]:
    return _flow_run("older", 0.90), _flow_run("latest", 0.95)


def test_compare_prints_the_latest_flow_run_by_default_and_the_ui_link(
    runs: tuple[str, str], tracking_uri: str, capsys: pytest.CaptureFixture[str]
):
    assert main(["compare"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["variant", "technique", "quantization"]
    assert [line.split()[0] for line in lines[1:4]] == ["fp32", "int8", "broken"]
    assert "0.9500" in out and "failed: compress: CompressionError: nothing to prune" in out
    assert "-0.4 pt [-1.1, +0.3]" in lines[2]
    experiment = tracking.ensure_experiment("mlflow-tflite")
    assert lines[4] == (
        f"MLflow UI: mlflow ui --backend-store-uri {tracking_uri}, then open "
        f"http://127.0.0.1:5000/#/experiments/{experiment}?workflowType=machine_learning"
    )


def test_compare_exports_a_chosen_run_as_csv_to_a_file(
    runs: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    older, _ = runs
    target = tmp_path / "older.csv"
    assert main(["compare", "--run-id", older, "--format", "csv", "--output", str(target)]) == 0
    assert f"wrote 3 variants of run {older}" in capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [(r["variant"], r["accuracy"]) for r in rows[:2]] == [("fp32", "0.9"), ("int8", "0.9")]
    # Raw numbers, the interval's bounds beside their metric.
    header = list(rows[1])
    at = header.index("accuracy_delta")
    assert header[at + 1:at + 3] == ["accuracy_delta_ci_low", "accuracy_delta_ci_high"]
    assert rows[1]["accuracy_delta_ci_low"] == "-0.011"
    assert rows[2]["error"] == "CompressionError: nothing to prune"


def test_compare_as_markdown(runs: tuple[str, str], capsys: pytest.CaptureFixture[str]):
    assert main(["compare", "--format", "markdown"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("| variant") and "MLflow UI" not in captured.out
    assert "| -0.4 pt [-1.1, +0.3] " in captured.out
    assert "workflowType=machine_learning" in captured.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", "--experiment", "nothing-here"],
         "no MLflow experiment named 'nothing-here'; run `mlflow-tflite run` first"),
        (["compare", "--run-id", "0123456789abcdef"], "run 0123456789abcdef: "),
    ],
)
def test_compare_without_a_flow_run_is_a_one_line_error(
    tracking_uri: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
):
    assert main(argv) == 1
    # MLflow may log its own lines while creating the store; ours is the last, one line.
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("mlflow-tflite compare: error: ") and message in last
