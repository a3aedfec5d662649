"""The `optimize` flow's Prefect tasks: each wraps one library step (`mlflow_tflite.pipeline`,
`mlflow_tflite.tracking`, `mlflow_tflite.registry`) with its timeout and retries.

The baseline, each build and each measurement run through `pipeline/isolate.py` (a child
process: a native crash fails that task). Tracking tasks retry on transient store errors.
`flows/optimize.py` (the flow) and `flows/search.py` submit them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from mlflow_tflite import tracking
from mlflow_tflite.config import Params, VariantConfig
from mlflow_tflite.convert.flatbuffer import FLOAT16, weights_storage
from mlflow_tflite.pipeline import (
    ArtifactStore,
    handles,
    isolate,
    measuring,
    steps,
)
from mlflow_tflite.registry import gates
from mlflow_tflite.tracking import VariantRecord, layout
from mlflow_tflite.train.kinds import describe_baseline

# COMPUTE_LOCK through its module: Dask pickles task functions by value with the globals
# they use, and a lock cannot travel (a module is pickled by reference).
from mlflow_tflite_flows import runner as runners

# Seconds; generous for 2 cores, finite so a hung step cannot hold a schedule forever.
# Baseline, build and measure count their own time in the step process (`limit_s`), not
# Prefect's task timeout, which also counted the wait for COMPUTE_LOCK: on MobileNetV2 a
# measurement queued behind three fine-tunes timed out without having started.
TIMEOUTS = {
    "prepare": 600,
    "baseline": 1800,
    "build": 2400,
    "measure": 900,
    "tracking": 300,
}


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a tracking step only for errors a retry can fix (a server that blipped), not
    a deleted experiment, permission denied or a read-only store."""
    error = state.data if isinstance(state.data, BaseException) else None
    if error is None:
        try:
            state.result()
        except BaseException as raised:  # noqa: BLE001 - the task's error, inspected only
            error = raised
    return error is None or not tracking.store.is_permanent(error)


# Only steps that talk to the tracking server retry: the rest are deterministic.
TRACKING_RETRIES = {"retries": 2, "retry_delay_seconds": [2, 10], "retry_condition_fn": _transient}
COMMON = {"cache_policy": NO_CACHE}


@task(name="prepare-data", timeout_seconds=TIMEOUTS["prepare"], **COMMON)
def prepare_data(params: Params, store: ArtifactStore, prepared_now: bool = False
                 ) -> handles.PreparedData:
    """`prepared_now`: the caller (the command, which checks the data before Prefect
    starts) has just prepared it, so this run did prepare it."""
    data = steps.prepare(params, store)
    if prepared_now:
        data = dataclasses.replace(data, reused=False)
    print(f"data: {data.source} version {data.version} "
          f"({'reused' if data.reused else 'prepared'}); {handles.data_line(data)}")
    return data


@task(name="train-baseline", **COMMON)
def train_baseline(
    params: Params, data: handles.PreparedData, store: ArtifactStore
) -> handles.Baseline:
    with runners.COMPUTE_LOCK:
        baseline = isolate.call("baseline", steps.train_baseline, params, data, store,
                                limit_s=TIMEOUTS["baseline"])
    line = describe_baseline(baseline.kind, baseline.accuracy, baseline.reused,
                             trained=bool(baseline.history), quantization=baseline.quantization)
    if baseline.quantization == "none" and weights_storage(
            baseline.fp32_path.read_bytes()) == FLOAT16:
        # Size ratios are against this file: a quantized variant is about half as small.
        line += "; its weights are stored as float16"
    print(f"baseline: {line}")
    return baseline


@task(name="probe-techniques", timeout_seconds=TIMEOUTS["baseline"], **COMMON)
def probe_techniques(variants: list[VariantConfig], params: Params, baseline: handles.Baseline,
                     data: handles.PreparedData) -> dict[str, str]:
    """Try each technique the variants use on the baseline once, wrapping only; the
    variants whose technique cannot wrap it are skipped before any builds."""
    with runners.COMPUTE_LOCK:
        return isolate.call("probe", steps.unwrappable_variants, variants, params, baseline,
                            data)


@task(task_run_name="build-{variant.name}", **COMMON)
def build(
    variant: VariantConfig,
    params: Params,
    baseline: handles.Baseline,
    data: handles.PreparedData,
    store: ArtifactStore,
    key: str,
) -> handles.Build:
    with runners.COMPUTE_LOCK:
        return isolate.call(f"build-{variant.name}", steps.build, variant, params, baseline,
                            data, store, key, limit_s=TIMEOUTS["build"])


@task(task_run_name="measure-{variant.name}", **COMMON)
def measure(
    variant: VariantConfig,
    params: Params,
    build: handles.Build,
    baseline: handles.Baseline,
    data: handles.PreparedData,
    store: ArtifactStore,
    key: str,
) -> dict[str, Any]:
    with runners.COMPUTE_LOCK:
        return isolate.call(f"measure-{variant.name}", measuring.measure, variant, params, build,
                            baseline, data, store, key, limit_s=TIMEOUTS["measure"])


@task(name="start-tracking", timeout_seconds=TIMEOUTS["tracking"], **TRACKING_RETRIES, **COMMON)
def start_tracking(uri: str, experiment: str, run_name: str, tags: dict[str, str]) -> str:
    tracking.configure_tracking(uri)
    return tracking.start_parent_run(tracking.ensure_experiment(experiment), run_name, tags)


@task(name="log-parent", timeout_seconds=TIMEOUTS["tracking"], **TRACKING_RETRIES, **COMMON)
def log_parent(
    uri: str, run_id: str, params: Params, data: handles.PreparedData, baseline: handles.Baseline,
    skipped: str | None = None, tags: dict[str, str] | None = None,
) -> str | None:
    """Log the params, baseline and datasets (and `tags`) on the parent run; returns the
    warning when the baseline is at chance level (also a tag on the run)."""
    from mlflow_tflite.data.dataset import by_input_name

    tracking.configure_tracking(uri)
    classes = handles.prepared_meta(data).get("class_names", [])
    arrays = handles.prepared_arrays(data, "x_train", "y_train", "x_test", "y_test")
    datasets = [
        (
            tracking.runs.numpy_dataset(by_input_name(arrays[f"x_{split}"]),
                                        arrays[f"y_{split}"] if classes else None,
                                        f"{data.source}-{split}", data.version, data.directory),
            context,
        )
        for split, context in (("train", "training"), ("test", "testing"))
    ]
    tracking.log_parent(
        run_id,
        params.model_dump(mode="json"),
        baseline_accuracy=baseline.accuracy,
        history=baseline.history,
        datasets=datasets,
        tags={layout.WEIGHTS_STORAGE_TAG: weights_storage(baseline.fp32_path.read_bytes()),
              layout.BASELINE_QUANTIZATION_TAG: baseline.quantization,
              # Variants skipped once the baseline was known (a technique that cannot
              # wrap it): the tag set at the start, with them.
              **({layout.SKIPPED_TAG: skipped} if skipped else {}), **(tags or {})},
    )
    chance = gates.chance_accuracy(arrays["y_test"] if baseline.class_scores else None,
                                   len(classes))
    warning = gates.record_chance(run_id, baseline.accuracy, chance, params.promote.chance_margin)
    if warning:
        print(f"WARNING: {warning}")
    return warning


@task(task_run_name="log-{record.name}", timeout_seconds=TIMEOUTS["tracking"],
      **TRACKING_RETRIES, **COMMON)
def log_variant(
    uri: str, parent_run_id: str, record: VariantRecord, tags: dict[str, str], example: Any
) -> VariantRecord:
    tracking.configure_tracking(uri)
    tracking.log_variant(parent_run_id, record, common_tags=tags, input_example=example)
    if record.ok:
        print(f"variant {record.name}: logged run {record.run_id}")
    else:
        print(f"variant {record.name}: FAILED at {record.failed_step}: {record.error}")
    return record


@task(name="report", timeout_seconds=TIMEOUTS["tracking"], **TRACKING_RETRIES, **COMMON)
def report(uri: str, parent_run_id: str, records: list[VariantRecord], reports_dir: str,
           champion: str | None = None, objective: list[str] | None = None) -> dict:
    """The tables and the plot, after promotion: they and each child run's verdict tag say
    which variant is the champion and which the policy refused."""
    tracking.configure_tracking(uri)
    tracking.runs.tag_verdicts(tracking.runs.judged(records))
    paths = tracking.write_reports(records, reports_dir, champion, objective or ())
    tracking.log_report(parent_run_id, paths, tracking.variant_rows(records))
    models = tracking.write_models(records, reports_dir)
    return {**{name: str(path) for name, path in paths.items()}, "models": str(models)}


@task(name="promote", timeout_seconds=TIMEOUTS["tracking"], **TRACKING_RETRIES, **COMMON)
def promote(
    uri: str,
    parent_run_id: str,
    params: Params,
    baseline: handles.Baseline,
    data: handles.PreparedData,
    example: Any,
) -> dict[str, Any] | None:
    """Apply the promotion policy to this flow run; None when `promote.enabled` is false."""
    if not params.promote.enabled:
        print("promotion: disabled (promote.enabled: false)")
        return None
    import mlflow

    from mlflow_tflite.registry import promote_flow_run

    tracking.configure_tracking(uri)

    def remeasure(model_uri: str) -> dict[str, float]:
        # A champion measured on another data version is measured again on this one.
        return measuring.remeasure(model_uri, params, baseline, data)

    def validate(version: Any) -> None:
        # The registered version must load and predict before any alias moves to it.
        mlflow.pyfunc.load_model(f"models:/{version.name}/{version.version}").predict(example)

    decision = promote_flow_run(parent_run_id, params.mlflow.registered_model_name,
                                params.promote, remeasure=remeasure, validate=validate)
    print(f"promotion: {decision.summary}")
    return {"summary": decision.summary, **decision.to_dict()}
