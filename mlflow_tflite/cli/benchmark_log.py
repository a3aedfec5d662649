"""`mlflow-tflite benchmark --log`: record a measurement (and its per-layer error) in MLflow."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_tflite.cli import CommandError, first_line
from mlflow_tflite.config.tracking import MlflowConfig
from mlflow_tflite.tracking.layout import BENCHMARK_MODEL_TAG, DELEGATE_TAG

if TYPE_CHECKING:
    from mlflow_tflite.measure import Measurement
    from mlflow_tflite.measure.layers import LayerError

# The params file's default experiment: benchmarks land beside the flow runs.
DEFAULT_EXPERIMENT = MlflowConfig().experiment


def log_measurement(
    m: Measurement, model: str, experiment: str | None, layers: list[LayerError] | None = None
) -> str:
    """Log metrics, the `delegate` tag and the full measurement, and with `layers` the
    per-layer table, plot and SNR metrics; returns the run id.

    Through the client, not the fluent API: an existing run keeps its status (it belongs
    to whoever started it), and no process-wide active experiment is changed.
    """
    import mlflow

    from mlflow_tflite.tracking import configure_tracking, ensure_experiment, resolve_tracking_uri

    uri = resolve_tracking_uri()
    configure_tracking(uri)
    active = mlflow.active_run()
    target = os.environ.get("MLFLOW_RUN_ID") or (active.info.run_id if active else None)
    created = False
    try:
        client = mlflow.MlflowClient()
        if target is None:
            name = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
            experiment_id = ensure_experiment(name)
            run_name = f"benchmark-{Path(model).stem}"
            target = client.create_run(experiment_id, run_name=run_name).info.run_id
            created = True
        _log_to(client, target, m, model, layers)
        if created:
            client.set_terminated(target)
    except Exception as error:  # noqa: BLE001 - tracking failures are one line for the user
        if created:
            mlflow.MlflowClient().set_terminated(target, status="FAILED")
        raise CommandError(f"logging to MLflow ({uri}) failed: {first_line(error)}") from None
    return target


def all_metrics(m: Measurement, layers: list[LayerError] | None) -> dict[str, float]:
    """The measurement's metrics, plus `output_snr_db` / `min_layer_snr_db` with layers."""
    from mlflow_tflite.measure.layers import summary_metrics

    return {**m.metrics(), **(summary_metrics(layers) if layers else {})}


def _log_to(
    client: Any, run_id: str, m: Measurement, model: str, layers: list[LayerError] | None
) -> None:
    import time

    from mlflow.entities import Metric, RunTag

    from mlflow_tflite.tracking.layers import log_layer_errors

    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, now, 0) for k, v in all_metrics(m, layers).items()],
        tags=[RunTag(DELEGATE_TAG, m.delegate), RunTag(BENCHMARK_MODEL_TAG, model)],
    )
    client.log_dict(run_id, m.to_dict(), "benchmark/measurement.json")
    if layers:
        log_layer_errors(run_id, [e.row() for e in layers], title=Path(model).name)
