from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlflow_tflite.measure.latency import delegate_label, measure_latency


@pytest.mark.parametrize("delegate", ["xnnpack", "builtin", "reference"])
def test_percentiles_are_positive_and_ordered(float_model: bytes, delegate: str) -> None:
    result = measure_latency(float_model, delegate=delegate, threads=1, warmup_runs=2, timed_runs=5)
    assert result.supported and result.reason is None
    assert 0 < result.min_ms <= result.p50_ms <= result.p90_ms <= result.p99_ms
    assert result.mean_ms > 0 and result.std_ms >= 0
    assert len(result.samples_ms) == 5


def test_settings_are_recorded_with_the_numbers(int8_model: bytes) -> None:
    x = np.random.default_rng(0).random((3, 8, 8, 1), dtype=np.float32)
    result = measure_latency(
        int8_model, delegate="builtin", threads=2, warmup_runs=1, timed_runs=4, x=x
    )
    recorded = result.to_dict()
    assert {k: recorded[k] for k in ("delegate", "threads", "warmup_runs", "timed_runs")} == {
        "delegate": "builtin",
        "threads": 2,
        "warmup_runs": 1,
        "timed_runs": 4,
    }
    assert recorded["input_source"] == "x_test[0:1]"
    assert "samples_ms" not in recorded


def test_no_data_times_a_zeros_input(float_model: bytes) -> None:
    assert measure_latency(float_model, timed_runs=2).input_source == "zeros"


def test_missing_external_delegate_is_unsupported_not_an_error(float_model: bytes) -> None:
    result = measure_latency(float_model, delegate="external:/nonexistent/libdelegate.so")
    assert not result.supported
    assert "/nonexistent/libdelegate.so" in result.reason
    assert result.p50_ms is None


# LiteRT's Delegate.__del__ trips over the half-built delegate of a failed load.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_library_that_is_not_a_delegate_is_unsupported_with_the_loader_reason(
    float_model: bytes, tmp_path: Path
) -> None:
    fake = tmp_path / "libfake.so"
    fake.write_bytes(b"not a shared object")
    result = measure_latency(float_model, delegate=f"external:{fake}")
    assert not result.supported
    assert result.reason.startswith(("OSError", "ValueError", "RuntimeError"))


def test_run_counts_are_validated(float_model: bytes) -> None:
    with pytest.raises(ValueError, match="timed_runs should be >= 1"):
        measure_latency(float_model, timed_runs=0)
    with pytest.raises(ValueError, match="warmup_runs should be >= 0"):
        measure_latency(float_model, warmup_runs=-1)


def test_inputs_must_match_the_model_inputs(float_model: bytes) -> None:
    x = np.zeros((1, 8, 8, 1), np.float32)
    with pytest.raises(ValueError, match="model has 1 inputs but 2 arrays"):
        measure_latency(float_model, x=[x, x])


@pytest.mark.parametrize(
    ("delegate", "label"),
    [("xnnpack", "xnnpack"), ("external:/opt/lib/libedgetpu.so.1", "external_libedgetpu")],
)
def test_delegate_labels_are_metric_safe(delegate: str, label: str) -> None:
    assert delegate_label(delegate) == label
