from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_tflite.measure.coldstart import measure_cold_start
from mlflow_tflite.measure.coldstart_probe import main as probe_main


def test_cold_start_and_memory_come_from_fresh_processes(float_model: bytes) -> None:
    result = measure_cold_start(float_model, delegate="xnnpack", threads=1, runs=2)
    assert result.cold_start_ms > 0
    assert result.peak_memory_mb > 0
    assert len(result.samples_ms) == 2 and result.runs == 2
    assert result.to_dict()["delegate"] == "xnnpack"


def test_cold_start_of_a_file_on_another_delegate(model_file: Path) -> None:
    result = measure_cold_start(model_file, delegate="builtin", runs=1)
    assert result.cold_start_ms > 0 and result.threads == 1


def test_a_failing_probe_reports_its_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model")
    with pytest.raises(RuntimeError, match="cold-start probe failed"):
        measure_cold_start(bad, runs=1)


def test_the_probe_prints_one_json_line(model_file: Path, capsys: pytest.CaptureFixture) -> None:
    assert probe_main([str(model_file), "--delegate", "builtin"]) == 0
    assert capsys.readouterr().out.strip().startswith('{"cold_start_ms": ')
