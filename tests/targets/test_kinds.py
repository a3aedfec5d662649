"""The `tflm` and `runtime` targets against their real runtimes: TFLite Micro's
interpreter and the metadata the real TFLite converter writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlflow_tflite.config import parse_params
from mlflow_tflite.metrics import SNR_CEILING_DB, format_metric
from mlflow_tflite.registry.policy import Candidate, evaluate
from mlflow_tflite.targets.run import measure_targets
from tests.helpers import tiny_cnn, to_tflite

SCHEMES = ("none", "int8", "dynamic")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("targets")
    model = tiny_cnn()
    paths = {}
    for scheme in SCHEMES:
        paths[scheme] = root / f"{scheme}.tflite"
        paths[scheme].write_bytes(to_tflite(model, scheme))
    return paths


@pytest.fixture(scope="module")
def params():
    return parse_params({
        "variants": [{"name": "fp32"}], "benchmark": {"warmup_runs": 1, "timed_runs": 5},
        "targets": {"mcu": {"kind": "tflm"}, "app": {"kind": "runtime", "max_min_runtime": "2.10"}},
        "promote": {"constraints": {"max_mcu/arena_bytes": 65536, "max_mcu/flash_bytes": 262144}},
    })


@pytest.fixture(scope="module")
def measured(models: dict[str, Path], params) -> dict[str, dict]:
    x = np.random.default_rng(0).random((16, 8, 8, 1), dtype=np.float32)
    return {scheme: measure_targets(params.targets, path, x, params.benchmark)
            for scheme, path in models.items()}


def test_tflm_finds_the_smallest_arena_flash_fidelity_and_latency(measured, models):
    metrics = measured["int8"]["metrics"]
    assert measured["int8"]["tags"]["mcu/compatible"] == "true"
    assert metrics["mcu/compatible"] == 1.0
    assert metrics["mcu/flash_bytes"] == models["int8"].stat().st_size
    assert 0 < metrics["mcu/arena_bytes"] < 65536
    assert metrics["mcu/latency_p50_ms"] > 0
    # TFLM's reference kernels against LiteRT's: close, not bit-identical for int8.
    assert 25 < metrics["mcu/output_snr_db"] <= SNR_CEILING_DB
    assert measured["none"]["metrics"]["mcu/output_snr_db"] > 100


def test_the_arena_found_is_the_smallest_that_allocates(measured, models):
    from tflite_micro.python.tflite_micro import runtime

    arena = int(measured["int8"]["metrics"]["mcu/arena_bytes"])
    content = models["int8"].read_bytes()
    runtime.Interpreter.from_bytes(content, arena_size=arena)
    with pytest.raises(RuntimeError):
        runtime.Interpreter.from_bytes(content, arena_size=arena - 16)


def test_a_variant_tflm_cannot_run_is_incompatible_naming_the_op_not_failed(measured):
    dynamic = measured["dynamic"]
    assert dynamic["errors"] == {}
    assert dynamic["tags"]["mcu/compatible"] == "missing ops: FULLY_CONNECTED(hybrid)"
    assert "FLOAT32 with filter type: INT8" in dynamic["tags"]["mcu/compatible_reason"]
    assert dynamic["metrics"]["mcu/compatible"] == 0.0
    assert "mcu/arena_bytes" not in dynamic["metrics"]


def test_runtime_reads_the_converters_min_runtime_version(measured):
    assert measured["none"]["tags"]["app/min_runtime"] == "1.5.0"
    assert measured["int8"]["tags"]["app/min_runtime"] == "1.14.0"
    dynamic = measured["dynamic"]
    assert dynamic["tags"]["app/min_runtime"] == "2.17.0"
    assert dynamic["tags"]["app/min_runtime_reason"] == (
        "FULLY_CONNECTED v12 needs 2.17.0 (min_runtime_version metadata)")
    assert format_metric("app/min_runtime", dynamic["metrics"]["app/min_runtime"]) == "2.17.0"


def test_promotion_refuses_what_the_app_or_the_mcu_cannot_run_naming_op_and_version(
        measured, params):
    candidates = [Candidate(scheme, scheme, {**m["metrics"], "accuracy_delta": 0.0,
                                             "latency_vs_fp32": 1.0}, m["tags"])
                  for scheme, m in measured.items()]
    result = evaluate(candidates, params.promote.target(None))
    assert [c.variant for c in result.ranking] == ["int8", "none"]
    messages = [f.message for f in result.failures["dynamic"]]
    assert messages == [
        "max_mcu/arena_bytes: no mcu/arena_bytes metric",
        "app/min_runtime 2.17.0 > max_app/min_runtime 2.10.0 "
        "(FULLY_CONNECTED v12 needs 2.17.0 (min_runtime_version metadata))",
    ]


def test_a_crashing_tflm_probe_fails_that_target_only(models, params, monkeypatch, tmp_path):
    broken = tmp_path / "probe.py"
    broken.write_text("import os\nos.abort()\n")
    monkeypatch.setattr("mlflow_tflite.targets.run.PROBE", broken)
    x = np.zeros((2, 8, 8, 1), dtype=np.float32)
    found = measure_targets(params.targets, models["int8"], x, params.benchmark)
    assert set(found["errors"]) == {"mcu"}
    assert found["errors"]["mcu"].startswith("tflm: ")
    assert found["tags"]["app/min_runtime"] == "1.14.0"


def test_a_model_xnnpack_refuses_is_measured_on_the_delegate_it_was_timed_on(models, params):
    from mlflow_tflite.targets.run import measure_targets

    x = np.zeros((2, 8, 8, 1), dtype=np.float32)
    found = measure_targets(params.targets, models["int8"], x, params.benchmark,
                            delegate="builtin")
    assert found["errors"] == {} and found["tags"]["mcu/compatible"] == "true"
    broken = measure_targets(params.targets, models["int8"], np.zeros((2, 3)), params.benchmark)
    assert set(broken["errors"]) == {"mcu", "app"}
    assert broken["errors"]["mcu"].startswith("no LiteRT reference: ")
