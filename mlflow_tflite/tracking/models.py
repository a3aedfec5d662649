"""A variant's `.tflite` logged through the `tflite` flavor into its child run.

The model is named after the variant, carries the variant's params as model params and
its conversion as metadata, and is loaded with the delegate it was measured on; the run
gets the tag `mlflow_tflite.model_uri`.
"""

from __future__ import annotations

import threading
from typing import Any

from mlflow_tflite.litert import DEFAULT_DELEGATE
from mlflow_tflite.tracking.layout import MODEL_URI_TAG
from mlflow_tflite.tracking.records import VariantRecord

# The first model MLflow logs in a process maps every installed distribution's files to
# check the model's requirements (about a second here); threads logging their first models
# at once would each build that map, several seconds of CPU together. The first logs alone.
_FIRST_MODEL_LOGGED = threading.Event()
_FIRST_MODEL_LOCK = threading.Lock()


def log_tflite_model(run_id: str, record: VariantRecord, input_example: Any) -> None:
    """Log the record's model into run `run_id` (the process's first model alone)."""
    if not _FIRST_MODEL_LOGGED.is_set():
        with _FIRST_MODEL_LOCK:
            if not _FIRST_MODEL_LOGGED.is_set():
                _log_model_now(run_id, record, input_example)
                _FIRST_MODEL_LOGGED.set()
                return
    _log_model_now(run_id, record, input_example)


def log_variant_model(run_id: str, record: VariantRecord, input_example: Any = None) -> None:
    """Log the record's `.tflite` through the `tflite` flavor into an existing child run
    (tag `mlflow_tflite.model_uri`), leaving the run's status as it was."""
    from mlflow import MlflowClient

    status = MlflowClient().get_run(run_id).info.status
    log_tflite_model(run_id, record, input_example)
    MlflowClient().set_terminated(run_id, status)


def _log_model_now(run_id: str, record: VariantRecord, input_example: Any) -> None:
    import mlflow

    import mlflow_tflite

    # The fluent run stack is per thread, so parallel children do not see each other.
    with mlflow.start_run(run_id=run_id):
        info = mlflow_tflite.log_model(
            record.tflite_path,
            # Named after the variant, so the UI's models view tells them apart.
            name=record.name,
            params=record.params or None,
            input_example=input_example,
            # The delegate the numbers were measured on; XNNPACK refuses some sparse models.
            delegate=record.delegate or DEFAULT_DELEGATE,
            metadata={
                "variant": record.name,
                "technique": record.technique,
                **record.measurement.get("conversion", {"quantization": record.quantization}),
            },
        )
        mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
    # start_run's exit marked the run FINISHED; the caller sets the final status.
