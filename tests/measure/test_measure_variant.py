from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlflow_tflite.config.benchmark import BenchmarkConfig
from mlflow_tflite.measure import (
    CORE_METRICS,
    DELEGATE_METRICS,
    UNCERTAINTY_METRICS,
    MeasureError,
    measure_variant,
    predict_outputs,
)

EXTRA_METRICS = {
    "max_abs_diff",
    "output_snr_db",
    "output_cosine",
    "latency_mean_ms",
    "latency_std_ms",
    "unique_weight_values",
    "op_count",
    "integer_only",
    "gpu_compatible",
}


def test_a_full_measurement_has_exactly_the_design_metrics(
    float_model: bytes, int8_model: bytes, test_data
) -> None:
    x, y = test_data
    config = BenchmarkConfig(delegates=["xnnpack", "builtin"], warmup_runs=1, timed_runs=5)
    m = measure_variant(
        int8_model,
        x,
        y,
        config=config,
        baseline_accuracy=0.5,
        reference_outputs=predict_outputs(float_model, x),
        fp32_size_bytes=len(float_model),
        fp32_model=float_model,
    )
    per_delegate = {
        f"{d}/{name}"
        for d in ("xnnpack", "builtin")
        for name in (*DELEGATE_METRICS, "latency_mean_ms", "latency_std_ms")
    }
    assert set(m.metrics()) == (set(CORE_METRICS) | per_delegate | EXTRA_METRICS
                                | set(UNCERTAINTY_METRICS))
    metrics = m.metrics()
    # The change's interval holds the point estimate; agreement's lies in [0, 1].
    assert (metrics["accuracy_delta_ci_low"] <= metrics["accuracy_delta"]
            <= metrics["accuracy_delta_ci_high"])
    assert 0.0 <= metrics["agreement_ci_low"] <= metrics["agreement"] \
        <= metrics["agreement_ci_high"] <= 1.0
    assert 0.0 <= metrics["accuracy_mcnemar_p"] <= 1.0
    # Accuracy's interval is its change's, placed at the accuracy.
    assert (metrics["accuracy_ci_low"] - metrics["accuracy"]
            == pytest.approx(metrics["accuracy_delta_ci_low"] - metrics["accuracy_delta"]))
    assert metrics["accuracy_ci_high"] - metrics["accuracy_ci_low"] == pytest.approx(
        metrics["accuracy_delta_ci_high"] - metrics["accuracy_delta_ci_low"])
    assert metrics["compression_ratio"] == pytest.approx(len(float_model) / len(int8_model))
    assert metrics["accuracy_delta"] == pytest.approx(metrics["accuracy"] - 0.5)
    assert 0.9 <= metrics["agreement"] <= 1.0
    assert metrics["latency_p50_ms"] == metrics["xnnpack/latency_p50_ms"]
    assert metrics["cold_start_ms"] > 0 and metrics["peak_memory_mb"] > 0
    assert metrics["integer_only"] == 1.0 and metrics["gpu_compatible"] == 1.0
    assert m.delegate == "xnnpack" and m.to_dict()["delegate"] == "xnnpack"
    json.dumps(m.to_dict())


def test_without_data_only_model_metrics_are_reported(
    model_file: Path, fast_config: BenchmarkConfig
) -> None:
    metrics = measure_variant(model_file, config=fast_config).metrics()
    for absent in (
        "accuracy",
        "accuracy_delta",
        "agreement",
        "compression_ratio",
        "cold_start_ms",
        "peak_memory_mb",
    ):
        assert absent not in metrics
    assert metrics["size_bytes"] == model_file.stat().st_size
    assert metrics["latency_p50_ms"] > 0


def test_the_fp32_model_agrees_with_itself(float_model: bytes, test_data, fast_config) -> None:
    x, y = test_data
    m = measure_variant(
        float_model, x, y, config=fast_config, reference_outputs=predict_outputs(float_model, x)
    )
    assert m.agreement == 1.0 and m.max_abs_diff == 0.0
    assert m.samples == len(x)


def test_an_unsupported_primary_falls_back_to_the_first_supported_delegate(
    float_model: bytes,
) -> None:
    missing = "external:/nonexistent/libdelegate.so"
    config = BenchmarkConfig(
        delegates=[missing, "builtin", "xnnpack"],
        primary_delegate=missing,
        warmup_runs=1,
        timed_runs=3,
        cold_start=False,
    )
    m = measure_variant(float_model, config=config)
    assert m.delegate == "builtin" and m.requested_delegate == missing
    assert "not found" in m.primary_fallback_reason
    assert m.unsupported == {missing: m.primary_fallback_reason}
    assert m.metrics()["latency_p50_ms"] == m.metrics()["builtin/latency_p50_ms"]
    assert not any(k.startswith("external") for k in m.metrics())
    recorded = m.to_dict()
    assert recorded["latency"][missing]["supported"] is False
    assert recorded["unsupported_delegates"][missing].startswith("OSError")


def test_a_model_no_delegate_can_run_is_an_error() -> None:
    from tests.measure.test_inspect import _flex_model

    config = BenchmarkConfig(delegates=["xnnpack", "builtin"], timed_runs=1, cold_start=False)
    with pytest.raises(MeasureError, match="no configured delegate can run the model"):
        measure_variant(_flex_model(), config=config)


def test_predict_outputs_dequantizes_integer_outputs(int8_model: bytes, test_data) -> None:
    x, _ = test_data
    outputs = predict_outputs(int8_model, x)
    assert outputs.dtype == np.float32 and outputs.shape == (len(x), 10)


def test_labels_without_inputs_are_rejected(float_model: bytes, fast_config) -> None:
    with pytest.raises(ValueError, match="y_test given without x_test"):
        measure_variant(float_model, y_test=np.zeros(3), config=fast_config)


def test_xnnpack_refusing_a_sparse_int8_model_is_recorded_and_builtin_steps_in(
    sparse_int8_model: tuple[bytes, float], test_data
) -> None:
    model, _ = sparse_int8_model
    x, y = test_data
    config = BenchmarkConfig(
        delegates=["xnnpack", "builtin"], warmup_runs=1, timed_runs=3, cold_start=False
    )
    m = measure_variant(model, x, y, config=config)
    assert m.latency["xnnpack"].supported is False
    assert "failed to delegate FULLY_CONNECTED" in m.latency["xnnpack"].reason
    assert m.delegate == "builtin" and m.accuracy is not None
    assert "xnnpack/latency_p50_ms" not in m.metrics()
    assert m.metrics()["latency_p50_ms"] == m.metrics()["builtin/latency_p50_ms"]


def test_latency_vs_fp32_divides_by_the_fp32_model_timed_on_the_primary_delegate(
    float_model: bytes, int8_model: bytes, fast_config: BenchmarkConfig
) -> None:
    m = measure_variant(int8_model, config=fast_config, fp32_model=float_model)
    assert 0 < m.metrics()["latency_vs_fp32"] < 100
    assert m.metrics()["latency_vs_fp32"] != 1.0
    # The fp32 model is exactly as fast as itself, not 1.0 plus timing noise.
    itself = measure_variant(float_model, config=fast_config, fp32_model=float_model)
    assert itself.metrics()["latency_vs_fp32"] == 1.0
    assert "latency_vs_fp32" not in measure_variant(int8_model, config=fast_config).metrics()
