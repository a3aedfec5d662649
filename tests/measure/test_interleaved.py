"""latency_vs_fp32 from fp32 and the variant timed interleaved, with a block-bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_tflite.config.benchmark import BenchmarkConfig
from mlflow_tflite.measure import measure_variant
from mlflow_tflite.measure.interleaved import BLOCK, measure_interleaved, ratio_interval

CONFIG = BenchmarkConfig(delegates=["xnnpack", "builtin"], threads=1, warmup_runs=2,
                         timed_runs=20, cold_start=False)


def _timings(blocks: int, load: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Invoke times (ns) of two models, each block slowed by the same machine load."""
    rng = np.random.default_rng(1)
    per_invoke = np.repeat(load, BLOCK)
    theirs = 1000.0 * per_invoke * rng.uniform(0.98, 1.02, blocks * BLOCK)
    ours = ratio * 1000.0 * per_invoke * rng.uniform(0.98, 1.02, blocks * BLOCK)
    return ours, theirs


def test_the_interval_holds_the_ratio_and_a_load_both_felt_cancels() -> None:
    blocks = 20
    # Half of the blocks ran while a neighbour doubled every invoke's time, on both sides.
    load = np.where(np.arange(blocks) % 2 == 0, 1.0, 2.0)
    ours, theirs = _timings(blocks, load, ratio=1.5)
    found = ratio_interval(ours, theirs)
    point = np.median(ours) / np.median(theirs)
    assert found.low <= point <= found.high
    assert 1.35 < found.low < 1.5 < found.high < 1.65
    # The same timings without the pairing (fp32's blocks shuffled against the variant's)
    # give a wider interval: pairing is what cancels the load.
    shuffled = theirs.reshape(blocks, BLOCK)[np.random.default_rng(2).permutation(blocks)]
    unpaired = ratio_interval(ours, shuffled.reshape(-1))
    assert (unpaired.high - unpaired.low) > (found.high - found.low)
    assert ratio_interval(ours, theirs) == found  # seeded


def test_one_block_has_no_spread_to_resample_and_a_short_last_block_counts() -> None:
    ours, theirs = np.array([2.0, 2.0, 2.2]), np.array([1.0, 1.1, 1.0])
    single = ratio_interval(ours, theirs)
    assert single.low == single.high == pytest.approx(2.0)
    ours, theirs = _timings(3, np.ones(3), ratio=0.5)
    found = ratio_interval(ours[:-2], theirs[:-2])  # 13 invokes: blocks of 5, 5 and 3
    assert 0.45 < found.low <= found.high < 0.55


def test_both_models_get_every_timed_run_on_the_same_delegate(
    float_model: bytes, int8_model: bytes
) -> None:
    paired = measure_interleaved(int8_model, float_model, "xnnpack", "xnnpack", threads=1,
                                 warmup_runs=1, timed_runs=12)
    assert len(paired.model.samples_ms) == len(paired.reference.samples_ms) == 12
    assert paired.model.delegate == paired.reference.delegate == "xnnpack"
    assert paired.ratio == pytest.approx(paired.model.p50_ms / paired.reference.p50_ms)
    assert paired.interval.low <= paired.ratio <= paired.interval.high


def test_a_variant_logs_the_ratio_with_its_interval_and_fp32_is_exactly_one(
    float_model: bytes, int8_model: bytes
) -> None:
    metrics = measure_variant(int8_model, config=CONFIG, fp32_model=float_model).metrics()
    assert (metrics["latency_vs_fp32_ci_low"] <= metrics["latency_vs_fp32"]
            <= metrics["latency_vs_fp32_ci_high"])
    assert metrics["latency_vs_fp32_ci_low"] < metrics["latency_vs_fp32_ci_high"]
    itself = measure_variant(float_model, config=CONFIG, fp32_model=float_model).metrics()
    assert (itself["latency_vs_fp32_ci_low"], itself["latency_vs_fp32"],
            itself["latency_vs_fp32_ci_high"]) == (1.0, 1.0, 1.0)
    assert "latency_vs_fp32_ci_low" not in measure_variant(int8_model, config=CONFIG).metrics()


def test_a_variant_the_primary_delegate_refuses_is_paired_on_its_fallback(
    float_model: bytes, int8_model: bytes, tmp_path
) -> None:
    missing = f"external:{tmp_path}/libmissing.so"
    config = BenchmarkConfig(delegates=[missing, "builtin"], primary_delegate=missing,
                             threads=1, warmup_runs=1, timed_runs=10, cold_start=False)
    m = measure_variant(int8_model, config=config, fp32_model=float_model)
    # fp32 cannot run on the primary delegate either: no ratio, the variant timed alone.
    assert m.delegate == "builtin" and m.latency_vs_fp32 is None
    assert len(m.primary.samples_ms) == 10
