"""The measuring steps of the flow: a built `.tflite` measured under the catalogue's names
(size, accuracy on the test split and the selection split, fidelity, latency, the user's
`evaluate` metrics, per-layer errors, deployment targets) and stored in the ArtifactStore.
A registered model is measured again the same way (`remeasure`) for the champion's row.
`pipeline/steps.py` holds the steps before this one (prepare, baseline, build).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mlflow_tflite.config import Params, VariantConfig
from mlflow_tflite.errors import first_line
from mlflow_tflite.pipeline.cache import ArtifactStore
from mlflow_tflite.pipeline.evaluated import user_metrics
from mlflow_tflite.pipeline.handles import (
    COMPRESSION_FILE,
    CONVERSION_FILE,
    KEEP_FLOAT_METRIC,
    Baseline,
    Build,
    PreparedData,
    load_prepared,
)


def measure(
    variant: VariantConfig,
    params: Params,
    build: Build,
    baseline: Baseline,
    data: PreparedData,
    store: ArtifactStore,
    key: str,
) -> dict[str, Any]:
    """Measure the `.tflite` and store the result under `key`; returns the measurement.

    The measurement is a JSON mapping with `metrics` (the catalogue's names), `delegate` (the
    primary delegate) and everything `measure_variant` reports, settings included. A
    quantized variant also gets `layers` (per-layer rows against the baseline's fp32
    `.tflite`) and the metrics `output_snr_db` and `min_layer_snr_db`, or `layers_error`
    when its layers cannot be matched with the fp32 model's (the variant stays measured).
    """
    measurement = _measure_file(build.tflite_path, params, baseline, data).to_dict()
    measurement["metrics"].update(user_metrics(build.tflite_path, params, data, baseline))
    measurement["metrics"].update(_selection_metrics(build.tflite_path, baseline, data,
                                                     measurement["delegate"], params))
    compression_file = Path(build.tflite_path).with_name(COMPRESSION_FILE)
    if compression_file.is_file():
        measurement["compression"] = json.loads(compression_file.read_text())
    conversion_file = Path(build.tflite_path).with_name(CONVERSION_FILE)
    if conversion_file.is_file():
        conversion = json.loads(conversion_file.read_text())
        measurement["conversion"] = conversion
        if "keep_float" in conversion:
            measurement["metrics"][KEEP_FLOAT_METRIC] = conversion["keep_float"]["size_bytes"]
    if variant.convert.quantization != "none":
        _add_layer_errors(measurement, build.tflite_path, baseline, data)
    if params.targets:
        _add_targets(measurement, build.tflite_path, params, data)
        if measurement["targets"]["errors"]:
            return measurement  # not stored: the next run asks the target again
    with store.put("measure", key, {"variant": variant.name}) as tmp:
        (tmp / "measurement.json").write_text(json.dumps(measurement, indent=2, default=str))
    return measurement


def remeasure(
    model_uri: str, params: Params, baseline: Baseline, data: PreparedData
) -> dict[str, float]:
    """Metrics of a registered `.tflite` model on this run's data and benchmark settings."""
    import mlflow

    local = Path(mlflow.artifacts.download_artifacts(model_uri))
    path = next(local.rglob("*.tflite"))
    measured = _measure_file(path, params, baseline, data)
    return {**measured.metrics(), **user_metrics(path, params, data, baseline),
            **_selection_metrics(path, baseline, data, measured.delegate, params)}


def _selection_metrics(path: str | Path, baseline: Baseline, data: PreparedData,
                       delegate: str, params: Params) -> dict[str, float]:
    """`selection/accuracy`, `selection/accuracy_delta` and their 95% paired-bootstrap
    intervals (`selection/accuracy_ci_low/high`, ...) of the `.tflite` at `path`: on
    the validation split, which the promotion gates and objectives and the search judge by
    (`metrics.decision_value`), so the test split's figures stay unbiased by every choice.
    The delta is against the baseline's fp32 `.tflite` on that split (the exact conversion
    of the Keras model the test split's delta is against), both on the `delegate` the test
    split's accuracy was measured on (XNNPACK refuses some sparse models). Empty without a
    labelled validation split (`data.validation_fraction: 0`) or class scores: decisions then judge
    by the test split's figures."""
    from mlflow_tflite.metrics import SELECTION_PREFIX

    if not baseline.class_scores:
        return {}
    dataset = load_prepared(data.directory, data.version)
    if not dataset.labelled or not len(dataset.y_val):
        return {}
    from mlflow_tflite.measure.outputs import predict_outputs
    from mlflow_tflite.measure.quality import labels_of, top1
    from mlflow_tflite.measure.uncertainty import paired_interval

    threads = params.benchmark.threads
    labels = labels_of(dataset.y_val)
    ours = top1(predict_outputs(path, dataset.x_val, delegate, threads)) == labels
    fp32 = top1(predict_outputs(baseline.fp32_path, dataset.x_val, delegate, threads)) == labels
    interval = paired_interval(ours, fp32)
    return {f"{SELECTION_PREFIX}{name}": float(value) for name, value in (
        ("accuracy", ours.mean()), ("accuracy_delta", ours.mean() - fp32.mean()),
        ("accuracy_delta_ci_low", interval.low), ("accuracy_delta_ci_high", interval.high),
        ("accuracy_ci_low", fp32.mean() + interval.low),
        ("accuracy_ci_high", fp32.mean() + interval.high))}


def _measure_file(path: str | Path, params: Params, baseline: Baseline, data: PreparedData) -> Any:
    from mlflow_tflite.measure import measure_variant

    dataset = load_prepared(data.directory, data.version)
    return measure_variant(
        path,
        dataset.x_test,
        dataset.y_test if baseline.class_scores else None,
        config=params.benchmark,
        baseline_accuracy=baseline.accuracy,
        reference_outputs=np.load(baseline.reference_path),
        fp32_size_bytes=baseline.fp32_size_bytes,
        fp32_model=baseline.fp32_path,
        class_scores=baseline.class_scores,
    )


def _add_layer_errors(
    measurement: dict[str, Any], path: str | Path, baseline: Baseline, data: PreparedData
) -> None:
    """Add the per-layer rows of a quantized model against the fp32 one and the two
    summary metrics, on up to DEFAULT_MAX_SAMPLES evenly spaced test samples."""
    from mlflow_tflite.litert import make_interpreter
    from mlflow_tflite.measure import OUTPUT_SNR_PREFIX
    from mlflow_tflite.measure.layers import OUTPUT_SNR_METRIC, layer_errors, summary_metrics
    from mlflow_tflite.measure.outputs import model_inputs

    dataset = load_prepared(data.directory, data.version)
    try:
        x = model_inputs(make_interpreter(baseline.fp32_path), dataset.x_test)
        errors = layer_errors(baseline.fp32_path, path, x)
        summary = summary_metrics(errors)
    except ValueError as error:
        measurement["layers_error"] = first_line(error)
        return
    measurement["layers"] = [e.row() for e in errors]
    metrics = measurement["metrics"]
    if any(name.startswith(OUTPUT_SNR_PREFIX) for name in metrics):
        # Several outputs: `output_snr_db` stays the worst of the per-output values beside
        # it (all test samples), not the layer comparison's (a subset of them).
        summary.pop(OUTPUT_SNR_METRIC, None)
    metrics.update(summary)


def _add_targets(
    measurement: dict[str, Any], path: str | Path, params: Params, data: PreparedData
) -> None:
    """Every `targets` entry's metrics (`<target>/<metric>`) and tags, under `targets`;
    a target that could not measure names its cause there and in its `<target>/error` tag."""
    from mlflow_tflite.litert import DELEGATES
    from mlflow_tflite.targets.run import measure_targets

    dataset = load_prepared(data.directory, data.version)
    # The delegate the variant was timed on (XNNPACK refuses sparse models: builtin).
    delegate = measurement.get("delegate")
    found = measure_targets(params.targets, path, dataset.x_test, params.benchmark,
                            delegate=delegate if delegate in DELEGATES else None)
    measurement["metrics"].update(found["metrics"])
    measurement["targets"] = found


def stored_measurement(store: ArtifactStore, key: str) -> dict[str, Any] | None:
    entry = store.get("measure", key)
    if entry is None:
        return None
    return json.loads((entry / "measurement.json").read_text())
