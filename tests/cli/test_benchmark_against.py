"""`mlflow-tflite benchmark MODEL --against FLOAT.tflite`: the per-layer error table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlflow_tflite.cli import main
from mlflow_tflite.measure.layers import TABLE_COLUMNS
from tests.helpers import digits, multi_io_model, tiny_cnn, to_tflite

FAST = ["--runs", "3", "--warmup", "1", "--no-cold-start", "--delegate", "builtin"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    model = tiny_cnn()
    root = tmp_path_factory.mktemp("against")
    paths = {
        "float": root / "float.tflite",
        "int8": root / "int8.tflite",
        "other": root / "other.tflite",
        "inputs": root / "digits.npz",
    }
    paths["float"].write_bytes(to_tflite(model))
    paths["int8"].write_bytes(to_tflite(model, "int8", "int8"))
    paths["other"].write_bytes(to_tflite(multi_io_model()))
    np.savez(paths["inputs"], x_test=digits()[0][:100])
    return paths


def test_the_table_lists_every_float_layer_with_its_error(
    files: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    argv = ["benchmark", str(files["int8"]), "--against", str(files["float"]),
            "--inputs", str(files["inputs"]), *FAST]
    assert main(argv) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("| layer"))
    assert [c.strip() for c in header.strip("|").split("|")] == list(TABLE_COLUMNS)
    assert out.count("| FULLY_CONNECTED") == 2 and "| CONV_2D" in out
    assert "output_snr_db=" in out and "min_layer_snr_db=" in out
    assert "most sensitive" in out


def test_a_model_against_itself_is_identical_on_random_inputs(
    files: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    from mlflow_tflite.measure.quality import SNR_CEILING_DB

    argv = ["benchmark", str(files["float"]), "--against", str(files["float"]), *FAST, "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    # The float32 ceiling (about 138.5 dB), not an infinity MLflow would log as 1.8e308.
    assert report["metrics"]["output_snr_db"] == SNR_CEILING_DB
    assert {row["cosine"] for row in report["layers"]} == {1.0}
    argv = ["benchmark", str(files["float"]), "--against", str(files["float"]), *FAST]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "output_snr_db=identical" in out and "inf" not in out


def test_log_records_the_table_plot_and_snr_metrics(
    tracking_uri: str, files: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    import mlflow

    argv = ["benchmark", str(files["int8"]), "--against", str(files["float"]),
            "--inputs", str(files["inputs"]), *FAST, "--log", "--experiment", "layers"]
    assert main(argv) == 0
    run = mlflow.search_runs(experiment_names=["layers"], output_format="list")[0]
    assert {"output_snr_db", "min_layer_snr_db"} <= set(run.data.metrics)
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"layer_errors.json", "layer_errors.png"} <= artifacts
    table = mlflow.MlflowClient().load_table(
        run.info.experiment_id, "layer_errors.json", run_ids=[run.info.run_id]
    )
    assert list(table.columns) == list(TABLE_COLUMNS) and len(table) == 4
    assert run.info.status == "FINISHED"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--against", "missing.tflite"], "--against missing.tflite: no such file"),
        (["--against", "OTHER"], "the models' inputs do not match: float model takes"),
        (["--against", "FLOAT", "--inputs", "BAD"], "do not fit the model inputs [-1, 8, 8, 1]"),
        (["--against", "FLOAT", "--inputs", "NOKEY"], "expected an array named x_test or x"),
        (["--inputs", "INPUTS"], "--inputs: only used with --against"),
    ],
)
def test_bad_input_is_one_line_and_logs_nothing(
    extra: list[str],
    message: str,
    files: dict[str, Path],
    tracking_uri: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    import mlflow

    np.save(tmp_path / "bad.npy", np.zeros((2, 28, 28, 1), np.float32))
    np.savez(tmp_path / "nokey.npz", a=np.zeros(1), b=np.zeros(1))
    names = {"OTHER": files["other"], "FLOAT": files["float"], "INPUTS": files["inputs"],
             "BAD": tmp_path / "bad.npy", "NOKEY": tmp_path / "nokey.npz"}
    extra = [str(names.get(a, a)) for a in extra]
    argv = ["benchmark", str(files["int8"]), *extra, *FAST, "--log", "--experiment", "bad"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert mlflow.MlflowClient().get_experiment_by_name("bad") is None
