"""Every command ends with one line and no traceback: a truncated model, bad data, a failing
flow, a missing delegate library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml

from mlflow_tflite.cli import main
from tests.cli.faults import run_command
from tests.flows.conftest import FAILING_VARIANT, TINY_PARAMS, USER_MODEL
from tests.helpers import tiny_cnn, to_tflite


def _lines(text: str) -> list[str]:
    # TensorFlow's C++ start-up notes (absl, oneDNN) are not ours to silence.
    noise = ("I0000", "E0000", "W0000", "WARNING: All log messages")
    return [line for line in text.strip().splitlines() if line and not line.startswith(noise)]


@pytest.fixture(scope="module")
def flatbuffer() -> bytes:
    return to_tflite(tiny_cnn(), "int8", "int8")


@pytest.mark.parametrize("keep", [64, 0.5])
def test_benchmark_of_a_truncated_model_is_one_line(
    flatbuffer: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str], keep: float
):
    path = tmp_path / "cut.tflite"
    path.write_bytes(flatbuffer[: int(keep if keep > 1 else len(flatbuffer) * keep)])
    assert main(["benchmark", str(path), "--runs", "2", "--no-cold-start"]) == 1
    err = _lines(capsys.readouterr().err)
    assert err == [f"mlflow-tflite benchmark: error: {path}: truncated or corrupt TFLite "
                   f"flatbuffer ({path.stat().st_size} bytes: its tables point past its end)"]


def _npz(path: Path, **arrays: np.ndarray) -> str:
    np.savez(path, **arrays)
    return str(path)


def _bad_sources(tmp_path: Path) -> dict[str, tuple[str, str]]:
    x = np.random.default_rng(0).random((40, 8, 8, 1)).astype(np.float32)
    y = np.arange(40) % 2
    nan = x.copy()
    nan[3, 1, 1, 0] = np.nan
    (tmp_path / "images" / "cat").mkdir(parents=True)
    (tmp_path / "images" / "dog").mkdir()
    return {
        "missing npz": (str(tmp_path / "none.npz"), ".npz file not found"),
        "lengths": (_npz(tmp_path / "len.npz", x_train=x, y_train=y[:30]), "30"),
        "nan": (_npz(tmp_path / "nan.npz", x_train=nan, y_train=y), "NaN or infinite"),
        "empty class": (str(tmp_path / "images"), "empty class folder"),
    }


@pytest.mark.parametrize("case", ["missing npz", "lengths", "nan", "empty class"])
def test_a_bad_data_source_is_one_line_before_the_flow_starts(
    tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
):
    source, message = _bad_sources(tmp_path)[case]
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({**TINY_PARAMS, "data": {"source": source}}))
    assert main(["run", "--params", str(params)]) == 1
    captured = capsys.readouterr()
    err = _lines(captured.err)
    assert len(err) == 1 and err[0].startswith("mlflow-tflite run: error: ") and message in err[0]
    assert "Traceback" not in captured.out + captured.err
    assert "temporary server" not in captured.out + captured.err  # Prefect never started
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []


@pytest.mark.slow
def test_a_failing_flow_keeps_prefects_tracebacks_off_the_console(tmp_path: Path):
    params = {**TINY_PARAMS, "train": {**TINY_PARAMS["train"], "model": USER_MODEL},
              "variants": [FAILING_VARIANT],
              "benchmark": {**TINY_PARAMS["benchmark"], "cold_start": False}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    outcome = run_command(["run", "--params", "params.yaml"], tmp_path, timeout=300,
                          PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    assert outcome.status == 1
    assert outcome.last_line.startswith("mlflow-tflite run: error: RuntimeError: no variant "
                                        "succeeded (int16x8: ")
    assert not [line for line in outcome.lines if "Traceback" in line], outcome.lines
    # The server stopped before the error line, not after it.
    assert not any("Stopping temporary server" in line for line in outcome.lines[-1:])


def test_save_model_with_a_missing_delegate_library_is_a_clear_error_without_noise(
    tmp_path: Path, flatbuffer: bytes
):
    model = tmp_path / "m.tflite"
    model.write_bytes(flatbuffer)
    code = (
        "import mlflow_tflite\n"
        "from mlflow.exceptions import MlflowException\n"
        "for lib in ('/missing.so', '/etc/hostname'):\n"
        "    try:\n"
        f"        mlflow_tflite.save_model({str(model)!r}, {str(tmp_path)!r} + '/out',"
        " delegate='external:' + lib)\n"
        "    except MlflowException as error:\n"
        "        print(error.error_code, error.message)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert _lines(done.stdout) == [
        "INVALID_PARAMETER_VALUE external delegate library /missing.so: no such file",
        "INVALID_PARAMETER_VALUE external delegate library /etc/hostname does not load as a "
        "LiteRT delegate: /etc/hostname: file too short",
    ]
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
