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

# MLflow 3 stores param values up to 6,000 characters.
MAX_PARAM_CHARS = 6000
# Child-run param: the ops a variant left in float (convert.keep_float / auto_keep_float).
KEEP_FLOAT_PARAM = "keep_float_layers"
# Child-run param: the layers pruning touched (compress.prune.layers / auto_layers).
PRUNED_LAYERS_PARAM = "pruned_layers"
# The first model MLflow logs in a process maps every installed distribution's files to
# check the model's requirements (about a second here); threads logging their first models
# at once would each build that map, several seconds of CPU together. The first logs alone.
_FIRST_MODEL_LOGGED = threading.Event()
_FIRST_MODEL_LOCK = threading.Lock()


def conversion_params(record: VariantRecord) -> dict[str, str]:
    """`keep_float_layers`: the ops left in float (`|`-joined scopes), and `pruned_layers`:
    the layers pruned (`,`-joined), when any."""
    found = {}
    kept = record.measurement.get("conversion", {}).get("keep_float")
    if kept:
        found[KEEP_FLOAT_PARAM] = " | ".join(kept["ops"])[:MAX_PARAM_CHARS]
    layers = record.measurement.get("compression", {}).get("prune_layers")
    if layers:
        pruned = ",".join(layer["name"] for layer in layers if layer["pruned"])
        found[PRUNED_LAYERS_PARAM] = pruned[:MAX_PARAM_CHARS]
    return found


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
            params={**record.params, **conversion_params(record)} or None,
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
