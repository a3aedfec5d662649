"""Measure any `.tflite` model: size, accuracy, fidelity, latency, cold start, memory.

    from mlflow_tflite.measure import measure_variant, predict_outputs

    reference = predict_outputs(fp32_bytes, x_test)
    m = measure_variant(int8_bytes, x_test, y_test, config=params.benchmark,
                        baseline_accuracy=0.98, reference_outputs=reference,
                        fp32_size_bytes=len(fp32_bytes))
    mlflow.log_metrics(m.metrics())          # the catalogue's names
    mlflow.set_tag("delegate", m.delegate)   # the delegate the unprefixed latency is of

Latency is measured per configured delegate; a delegate that cannot run the model is
recorded as unsupported with the reason. If the primary delegate is unsupported, the
first supported delegate in `config.delegates` order fills the unprefixed latency
metrics and cold start, and `delegate` / `to_dict()["delegate"]` names it (with
`primary_fallback_reason`). Only when no configured delegate can run the model is that
an error (`MeasureError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlflow_tflite.measure.coldstart import ColdStart, measure_cold_start
from mlflow_tflite.measure.cpu import cpu_int8_features, cpu_model
from mlflow_tflite.measure.inspect import Inspection, inspect_model, read_flatbuffer
from mlflow_tflite.measure.interleaved import measure_interleaved
from mlflow_tflite.measure.latency import LatencyResult, delegate_label, measure_latency
from mlflow_tflite.measure.outputs import Arrays, predict_all, predict_outputs, reference_outputs
from mlflow_tflite.measure.quality import (
    accuracy,
    agreement,
    flat_outputs,
    labels_of,
    max_abs_diff,
    output_cosine,
    output_snr_db,
    top1,
)
from mlflow_tflite.measure.size import compression_ratio, gzip_size_bytes, size_bytes
from mlflow_tflite.metrics import all_metrics, find_metric, metric_names

if TYPE_CHECKING:
    from mlflow_tflite.config.benchmark import BenchmarkConfig

# The per-variant metrics every run logs, in display order (the catalogue's `core`).
CORE_METRICS = metric_names("core")
# Fidelity to the float model (the quality measure when outputs are not class scores).
FIDELITY_METRICS = metric_names("fidelity")
# Paired-bootstrap intervals and McNemar's p (with class scores and the reference model).
UNCERTAINTY_METRICS = metric_names("uncertainty")
DELEGATE_METRICS = tuple(m for m in CORE_METRICS if find_metric(m).per_delegate)
# `output_snr_db/<output name>`: the SNR of each output of a model with several.
OUTPUT_SNR_PREFIX = "output_snr_db/"


# A per-delegate metric's `source` reads the primary delegate's LatencyResult; per
# delegate, the same field of each delegate's.
_PRIMARY = "primary"


def _read(measurement: Measurement, source: str) -> Any:
    """The value at attribute path `source` of `measurement` (a catalogue `Metric.source`);
    None when a step of the path is None (no cold start measured)."""
    value: Any = measurement
    for part in source.split("."):
        if value is None:
            return None
        value = getattr(value, part)
    return value


class MeasureError(RuntimeError):
    """The model cannot be measured at all (no configured delegate can run it)."""


@dataclass
class Measurement:
    """Everything measured about one `.tflite` model.

    `metrics()` is what goes to MLflow; `to_dict()` adds the settings, unsupported
    delegates with reasons, the op histogram and per-tensor details.
    """

    size_bytes: int
    gzip_size_bytes: int
    inspection: Inspection
    latency: dict[str, LatencyResult]
    delegate: str
    requested_delegate: str
    primary_fallback_reason: str | None = None
    compression_ratio: float | None = None
    latency_vs_fp32: float | None = None
    accuracy: float | None = None
    accuracy_delta: float | None = None
    agreement: float | None = None
    max_abs_diff: float | None = None
    output_snr_db: float | None = None
    output_cosine: float | None = None
    # Output name -> its SNR (dB) against the reference, for a model with several outputs;
    # `output_snr_db` is then the worst of them.
    output_snr_by_output: dict[str, float] = field(default_factory=dict)
    # Paired-bootstrap 95% intervals (measure.uncertainty) and McNemar's exact p of the
    # accuracy change against the reference (fp32) model on the same images.
    accuracy_ci_low: float | None = None
    accuracy_ci_high: float | None = None
    accuracy_delta_ci_low: float | None = None
    accuracy_delta_ci_high: float | None = None
    agreement_ci_low: float | None = None
    agreement_ci_high: float | None = None
    accuracy_mcnemar_p: float | None = None
    # The block bootstrap's 95% interval of latency_vs_fp32 (measure.interleaved).
    latency_vs_fp32_ci_low: float | None = None
    latency_vs_fp32_ci_high: float | None = None
    cold_start: ColdStart | None = None
    samples: int | None = None
    runtime: dict[str, str] = field(default_factory=dict)

    @property
    def primary(self) -> LatencyResult:
        return self.latency[self.delegate]

    @property
    def unsupported(self) -> dict[str, str]:
        """Delegate -> reason, for delegates that could not run the model."""
        return {d: r.reason or "" for d, r in self.latency.items() if not r.supported}

    def metrics(self) -> dict[str, float]:
        """Metric name -> value under the catalogue's names; absent inputs leave keys out.

        Always: size_bytes, gzip_size_bytes, latency_p50/p90/p99_ms, sparsity,
        `<delegate>/latency_p50|p90|p99|mean|std_ms` per supported delegate, and the extras
        latency_mean_ms, latency_std_ms, unique_weight_values, op_count, integer_only,
        gpu_compatible (0/1). With the inputs that define them: compression_ratio,
        accuracy, accuracy_delta, agreement, the fidelity to the reference (max_abs_diff,
        output_snr_db, output_cosine), latency_vs_fp32, cold_start_ms, peak_memory_mb.
        """
        values: dict[str, float | None] = {
            m.name: _read(self, m.source) for m in all_metrics() if m.source
        }
        for name, snr in self.output_snr_by_output.items():
            values[f"{OUTPUT_SNR_PREFIX}{name}"] = snr
        per_delegate = [m for m in all_metrics() if m.per_delegate and m.source]
        for result in self.latency.values():
            if not result.supported:
                continue
            for metric in per_delegate:
                field_name = metric.source.removeprefix(f"{_PRIMARY}.")
                values[f"{result.label}/{metric.name}"] = getattr(result, field_name)
        return {name: float(value) for name, value in values.items() if value is not None}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: metrics, settings, unsupported delegates, inspection details."""
        return {
            "metrics": self.metrics(),
            "delegate": self.delegate,
            "requested_delegate": self.requested_delegate,
            "primary_fallback_reason": self.primary_fallback_reason,
            "latency": {d: r.to_dict() for d, r in self.latency.items()},
            "unsupported_delegates": self.unsupported,
            "cold_start": self.cold_start.to_dict() if self.cold_start else None,
            "integer_only": self.inspection.integer_only,
            "gpu_compatible": self.inspection.gpu_compatible,
            "gpu_incompatible_ops": self.inspection.gpu_incompatible_ops,
            "op_histogram": self.inspection.op_histogram,
            "inspection": self.inspection.to_dict(),
            "samples": self.samples,
            "runtime": self.runtime,
        }


def _runtime() -> dict[str, str]:
    """What the numbers depend on besides the model: LiteRT version, the CPU and its count."""
    import os
    import platform
    from importlib.metadata import PackageNotFoundError, version

    try:
        litert = version("ai-edge-litert")
    except PackageNotFoundError:
        litert = "unknown"
    return {
        "ai_edge_litert": litert,
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": str(os.cpu_count()),
        "cpu_int8": cpu_int8_features(),
    }


def _add_intervals(result: Measurement, ours: np.ndarray, theirs: np.ndarray,
                   y: np.ndarray | None) -> None:
    """Agreement's interval and, with labels, McNemar's p and the interval of the accuracy
    change against the reference model per image, placed at `accuracy` and at
    `accuracy_delta` (against the baseline: the reference's own gap to it is a constant)."""
    from mlflow_tflite.measure.uncertainty import mcnemar_p, mean_interval, paired_interval

    agree = mean_interval(ours == theirs)
    result.agreement_ci_low, result.agreement_ci_high = agree.low, agree.high
    if y is None or result.accuracy is None or len(ours) != len(y):
        return
    labels = labels_of(y)
    right, reference_right = ours == labels, theirs == labels
    change = paired_interval(right, reference_right)
    gap = float(right.mean()) - float(reference_right.mean())
    result.accuracy_ci_low = result.accuracy - gap + change.low
    result.accuracy_ci_high = result.accuracy - gap + change.high
    if result.accuracy_delta is not None:
        result.accuracy_delta_ci_low = result.accuracy_delta - gap + change.low
        result.accuracy_delta_ci_high = result.accuracy_delta - gap + change.high
    result.accuracy_mcnemar_p = mcnemar_p(right, reference_right)


def measure_variant(
    model: bytes | str | Path,
    x_test: Arrays | None = None,
    y_test: np.ndarray | None = None,
    *,
    config: BenchmarkConfig | None = None,
    baseline_accuracy: float | None = None,
    reference_outputs: np.ndarray | None = None,
    fp32_size_bytes: int | None = None,
    fp32_model: bytes | str | Path | None = None,
    gpu_check: bool = True,
    class_scores: bool = True,
) -> Measurement:
    """Measure one `.tflite` model (bytes or path).

    Args:
        model: the flatbuffer or a path to a `.tflite` file.
        x_test: test inputs (one array, or one per model input); the latency input is
            `x_test[0:1]`, zeros of the input shape when None.
        y_test: labels (integers or one-hot) for `accuracy`.
        config: delegates, threads, warm-up/timed runs, cold start; defaults when None.
        baseline_accuracy: the Keras baseline's accuracy, for `accuracy_delta`.
        reference_outputs: outputs of the reference (fp32) model on `x_test`
            (`reference_outputs()`), for `agreement` and the fidelity metrics
            (`max_abs_diff`, `output_snr_db`, `output_cosine`); with several outputs,
            `output_snr_db` is the worst one and each gets `output_snr_db/<name>`.
        fp32_size_bytes: the fp32 variant's size, for `compression_ratio`.
        fp32_model: the fp32 `.tflite`, timed on the requested primary delegate
            interleaved with the model (`measure.interleaved`), for `latency_vs_fp32`: the
            model's p50 (on its fallback delegate when the primary one refuses it) over
            the fp32 p50, with a block-bootstrap 95% interval (`latency_vs_fp32_ci_low`,
            `_ci_high`); above 1 is slower than the float model where it is deployed.
        gpu_check: run the analyzer's GPU-delegate compatibility check.
        class_scores: the outputs are class scores, so top-1 `agreement` means something
            (False for a detector or landmark model: fidelity only).

    Returns:
        A Measurement; `.metrics()` for MLflow, `.delegate` for the `delegate` tag.

    Raises:
        FileNotFoundError / ValueError: missing file, not a TFLite flatbuffer,
            labels or reference outputs that do not match `x_test`.
        MeasureError: no configured delegate can run the model.
    """
    from mlflow_tflite.config.benchmark import BenchmarkConfig

    config = config or BenchmarkConfig()
    content = read_flatbuffer(model)
    if x_test is not None:
        x_test = _split_inputs(content, x_test)
    if y_test is not None and x_test is None:
        raise ValueError("y_test given without x_test")
    if reference_outputs is not None and x_test is None:
        raise ValueError("reference_outputs given without x_test")
    inspection = inspect_model(content, gpu=gpu_check)
    requested = config.primary_delegate

    def timed(model: bytes, delegate: str) -> LatencyResult:
        return measure_latency(model, delegate=delegate, threads=config.threads,
                               warmup_runs=config.warmup_runs, timed_runs=config.timed_runs,
                               x=x_test)

    # The fp32 model interleaved with the model on the primary delegate (measure.interleaved),
    # so the machine's load cancels out of their ratio; where the primary delegate refuses
    # the model, on its fallback. The fp32 model itself is 1.0 by definition (timing it
    # against itself would make it slower than itself half the time).
    reference = read_flatbuffer(fp32_model) if fp32_model is not None else None
    paired = None
    order = sorted(config.delegates, key=lambda d: d != requested)
    measured: dict[str, LatencyResult] = {}
    for each in order:
        if reference in (None, content) or (paired is not None and paired.reference):
            measured[each] = timed(content, each)
            continue
        paired = measure_interleaved(content, reference, each, requested, threads=config.threads,
                                     warmup_runs=config.warmup_runs,
                                     timed_runs=config.timed_runs, x=x_test)
        measured[each] = paired.model
    latency = {delegate: measured[delegate] for delegate in config.delegates}
    supported = [d for d in config.delegates if latency[d].supported]
    if not supported:
        reasons = "; ".join(f"{d}: {r.reason}" for d, r in latency.items())
        raise MeasureError(f"no configured delegate can run the model ({reasons})")
    delegate = requested if latency[requested].supported else supported[0]
    fallback = None if delegate == requested else latency[requested].reason

    result = Measurement(
        size_bytes=size_bytes(content),
        gzip_size_bytes=gzip_size_bytes(content),
        inspection=inspection,
        latency=latency,
        delegate=delegate,
        requested_delegate=requested,
        primary_fallback_reason=fallback,
        runtime=_runtime(),
    )
    if fp32_size_bytes is not None:
        result.compression_ratio = compression_ratio(fp32_size_bytes, result.size_bytes)
    if reference == content:
        result.latency_vs_fp32 = result.latency_vs_fp32_ci_low = 1.0
        result.latency_vs_fp32_ci_high = 1.0
    elif paired is not None and paired.ratio is not None and paired.model is result.primary:
        result.latency_vs_fp32 = paired.ratio
        result.latency_vs_fp32_ci_low = paired.interval.low
        result.latency_vs_fp32_ci_high = paired.interval.high
    if x_test is not None:
        outputs = predict_all(content, x_test, delegate, config.threads)
        result.samples = len(outputs[0])
        if y_test is not None:
            result.accuracy = accuracy(outputs[0], y_test)
            if baseline_accuracy is not None:
                result.accuracy_delta = result.accuracy - baseline_accuracy
        if reference_outputs is not None:
            flat, reference = flat_outputs(outputs), flat_outputs(reference_outputs)
            if class_scores:
                result.agreement = agreement(flat, reference)
                _add_intervals(result, top1(outputs[0]), top1(reference), y_test)
            result.max_abs_diff = max_abs_diff(flat, reference)
            result.output_snr_db = output_snr_db(flat, reference)
            result.output_cosine = output_cosine(flat, reference)
            if len(outputs) > 1:
                result.output_snr_by_output = _snr_per_output(content, outputs, reference)
                result.output_snr_db = min(result.output_snr_by_output.values())
    if config.cold_start:
        result.cold_start = measure_cold_start(content, delegate=delegate, threads=config.threads)
    return result


def _split_inputs(content: bytes, x: Arrays) -> Arrays:
    """A multi-input structured array as one array per input, in the model's order."""
    if isinstance(x, list | tuple) or not x.dtype.names:
        return x
    from mlflow_tflite.litert import make_interpreter
    from mlflow_tflite.measure.outputs import model_inputs

    return model_inputs(make_interpreter(content), x)


def _snr_per_output(content: bytes, outputs: list[np.ndarray],
                    reference: np.ndarray) -> dict[str, float]:
    """Output name -> SNR (dB) of that output against its columns of the flat reference."""
    from mlflow_tflite.litert import make_interpreter
    from mlflow_tflite.measure.outputs import io_names

    names = io_names(make_interpreter(content), "outputs")
    found, start = {}, 0
    for name, output in zip(names, outputs, strict=True):
        width = int(np.prod(output.shape[1:], dtype=np.int64))
        found[name] = output_snr_db(output, reference[:, start : start + width])
        start += width
    return found


__all__ = [
    "DELEGATE_METRICS",
    "CORE_METRICS",
    "FIDELITY_METRICS",
    "UNCERTAINTY_METRICS",
    "ColdStart",
    "Inspection",
    "LatencyResult",
    "OUTPUT_SNR_PREFIX",
    "MeasureError",
    "Measurement",
    "delegate_label",
    "inspect_model",
    "measure_cold_start",
    "measure_latency",
    "measure_variant",
    "predict_outputs",
    "read_flatbuffer",
    "reference_outputs",
]
