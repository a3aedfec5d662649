from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlflow_tflite.cli import main
from mlflow_tflite.measure import CORE_METRICS
from tests.helpers import tiny_cnn, to_tflite

FAST = ["--runs", "5", "--warmup", "1"]


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    return to_tflite(tiny_cnn(), "int8", "int8")


@pytest.fixture
def model_file(tmp_path: Path, model_bytes: bytes) -> Path:
    path = tmp_path / "digits.tflite"
    path.write_bytes(model_bytes)
    return path


def test_benchmark_a_file_prints_latency_per_delegate_and_model_facts(
    model_file: Path, capsys: pytest.CaptureFixture
) -> None:
    code = main(
        [
            "benchmark",
            str(model_file),
            *FAST,
            "--no-cold-start",
            "--delegate",
            "xnnpack",
            "--delegate",
            "reference",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "| xnnpack" in out and "primary" in out and "| reference" in out
    for fact in (
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "mean ms",
        "gzip size",
        "sparsity",
        "CONV_2D 1",
        "integer-only",
        "GPU delegate compatible",
    ):
        assert fact in out
    assert "threads=1 warm-up=1 timed runs=5" in out


def test_an_unloadable_delegate_is_a_row_not_a_failure(
    model_file: Path, capsys: pytest.CaptureFixture
) -> None:
    code = main(
        [
            "benchmark",
            str(model_file),
            *FAST,
            "--no-cold-start",
            "--delegate",
            "external:/nonexistent/libdelegate.so",
            "--delegate",
            "builtin",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert (
        "unsupported" in out and "builtin (external:/nonexistent/libdelegate.so unsupported)" in out
    )


def test_json_output_has_metrics_and_settings(
    model_file: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["benchmark", str(model_file), *FAST, "--no-cold-start", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["delegate"] == "xnnpack" and report["run_id"] is None
    assert report["latency"]["builtin"]["timed_runs"] == 5
    assert report["metrics"]["integer_only"] == 1.0


def test_log_writes_the_design_metrics_to_a_new_run(
    tracking_uri: str, model_file: Path, capsys: pytest.CaptureFixture
) -> None:
    import mlflow

    assert main(["benchmark", str(model_file), *FAST, "--log", "--experiment", "bench"]) == 0
    assert "logged" in capsys.readouterr().out
    run = mlflow.search_runs(experiment_names=["bench"], output_format="list")[0]
    logged = set(run.data.metrics)
    # Without test data and the fp32 model there is no accuracy, agreement, fp32 size or
    # fp32 latency to compare with.
    needs_data = {"accuracy", "accuracy_delta", "agreement", "compression_ratio",
                  "latency_vs_fp32"}
    assert set(CORE_METRICS) - needs_data <= logged
    assert {"xnnpack/latency_p50_ms", "builtin/latency_p99_ms"} <= logged
    assert run.data.tags["delegate"] == "xnnpack"
    assert run.info.status == "FINISHED"


def test_log_goes_to_the_run_in_mlflow_run_id_and_leaves_it_running(
    tracking_uri: str, model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    run_id = mlflow.MlflowClient().create_run(mlflow.create_experiment("outer")).info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", run_id)
    assert main(["benchmark", str(model_file), *FAST, "--no-cold-start", "--log"]) == 0
    run = mlflow.get_run(run_id)
    assert run.data.metrics["size_bytes"] == model_file.stat().st_size
    assert run.info.status == "RUNNING"


def test_a_registered_model_uri_is_downloaded_and_measured(
    tracking_uri: str, model_bytes: bytes, capsys: pytest.CaptureFixture
) -> None:
    import mlflow

    import mlflow_tflite

    with mlflow.start_run():
        mlflow_tflite.log_model(model_bytes, name="model", registered_model_name="digits")
    code = main(["benchmark", "models:/digits/1", *FAST, "--no-cold-start", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["size_bytes"] == len(model_bytes)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.tflite"], "missing.tflite: no such file"),
        (["--delegate", "gpu", "MODEL"], "--delegate: unknown delegate 'gpu'"),
        (["--runs", "0", "MODEL"], "--runs:"),
    ],
)
def test_user_errors_exit_1_with_one_line(
    argv: list[str],
    message: str,
    model_file: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(model_file.parent)
    argv = [str(model_file) if a == "MODEL" else a for a in argv]
    assert main(["benchmark", *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_a_file_that_is_not_a_flatbuffer_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    junk = tmp_path / "model.tflite"
    junk.write_text("hello")
    assert main(["benchmark", str(junk)]) == 1
    assert "not a TFLite flatbuffer" in capsys.readouterr().err


def test_an_unknown_registered_model_exits_1(
    tracking_uri: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["benchmark", "models:/no-such-model/1"]) == 1
    # MLflow may log its own INFO lines (creating the store) before ours.
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("mlflow-tflite benchmark: error: models:/no-such-model/1: ")
