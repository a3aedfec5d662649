"""Model versions: register a variant with its tags, wait until READY, read a champion back."""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
from collections.abc import Mapping

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    ErrorCode,
)

from mlflow_tflite.registry.policy import Candidate
from mlflow_tflite.tracking.layout import (
    BASELINE_QUANTIZATION_TAG,
    DATA_VERSION_TAG,
    DELEGATE_TAG,
    GIT_COMMIT_TAG,
    PREVIOUS_TAG_PREFIX,
    QUANTIZATION_TAG,
    SOURCE_FLOW_RUN_TAG,
    SOURCE_RUN_TAG,
    TECHNIQUE_TAG,
    VARIANT_TAG,
)

# Run tags copied onto the version as they are (docs/architecture.md lists them).
COPIED_TAGS = (TECHNIQUE_TAG, QUANTIZATION_TAG, BASELINE_QUANTIZATION_TAG, DELEGATE_TAG,
               DATA_VERSION_TAG, GIT_COMMIT_TAG)
_METRIC_TAG = re.compile(r"^(?:[\w.\-]+/)?[a-z0-9_]+$")
_NOT_METRICS = {*COPIED_TAGS}


class PromotionError(Exception):
    """Promotion stopped before moving any alias; the message is one line."""


def previous_tag(alias: str) -> str:
    """Tag on a champion version naming the version that held `alias` before it."""
    return f"{PREVIOUS_TAG_PREFIX}{alias}"


def _is_code(error: MlflowException, code: int) -> bool:
    return error.error_code == ErrorCode.Name(code)


def format_tag_value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def version_tags(candidate: Candidate, flow_run_id: str) -> dict[str, str]:
    """Every metric, the descriptive run tags, the variant, source run and flow run."""
    tags = {k: format_tag_value(v) for k, v in sorted(candidate.metrics.items())}
    tags.update({k: candidate.tags[k] for k in COPIED_TAGS if candidate.tags.get(k)})
    if candidate.data_version:
        tags[DATA_VERSION_TAG] = candidate.data_version
    tags[VARIANT_TAG] = candidate.variant
    tags[SOURCE_RUN_TAG] = candidate.run_id
    tags[SOURCE_FLOW_RUN_TAG] = flow_run_id
    return tags


def ensure_registered_model(client: MlflowClient, name: str) -> None:
    try:
        client.create_registered_model(
            name, description="Managed by mlflow-tflite promote (see the version tags)."
        )
    except MlflowException as error:
        if not _is_code(error, RESOURCE_ALREADY_EXISTS):
            raise


def resolve_source(client: MlflowClient, model_uri: str, run_id: str) -> tuple[str, str | None]:
    """(source, logged model id) for `create_model_version`.

    `runs:/<run>/<name>` resolves to the logged model of that name (MLflow 3) or, when the
    run logged plain artifacts there, to the run's artifact location.
    """
    if model_uri.startswith("models:/m-"):
        return model_uri, model_uri.removeprefix("models:/").split("/")[0]
    if not model_uri.startswith("runs:/"):
        return model_uri, None
    source_run, _, path = model_uri.removeprefix("runs:/").partition("/")
    run = client.get_run(source_run or run_id)
    models = client.search_logged_models(
        [run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}' AND name = '{path}'",
    )
    if models:
        newest = max(models, key=lambda m: m.creation_timestamp)
        return f"models:/{newest.model_id}", newest.model_id
    return f"{run.info.artifact_uri.rstrip('/')}/{path}", None


def find_version(client: MlflowClient, name: str, run_id: str) -> ModelVersion | None:
    """The newest READY version of `name` registered from `run_id`, if any."""
    found = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    ready = [v for v in found if v.status == "READY"]
    return max(ready, key=lambda v: int(v.version)) if ready else None


def wait_ready(client: MlflowClient, name: str, version: str, timeout_s: float) -> ModelVersion:
    """Poll until the version is READY.

    Raises:
        PromotionError: registration failed or did not finish within `timeout_s`.
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        current = client.get_model_version(name, version)
        if current.status == "READY":
            return current
        if current.status == "FAILED_REGISTRATION":
            raise PromotionError(
                f"{name} version {version} failed registration: {current.status_message}"
            )
        if time.monotonic() >= deadline:
            raise PromotionError(
                f"{name} version {version} not READY after {timeout_s:g}s "
                f"(status {current.status})"
            )
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 2.0)


def register(
    client: MlflowClient,
    name: str,
    candidate: Candidate,
    flow_run_id: str,
    *,
    ready_timeout_s: float,
) -> ModelVersion:
    """A READY version of `candidate` with its tags; reuses one from the same run.

    Reuse keeps promotion idempotent: promoting the same flow run twice adds no version.
    """
    tags = version_tags(candidate, flow_run_id)
    existing = find_version(client, name, candidate.run_id)
    if existing is not None:
        for key, value in tags.items():
            if existing.tags.get(key) != value:
                client.set_model_version_tag(name, existing.version, key, value)
        link_logged_model(client, existing)
        return existing
    source, model_id = resolve_source(client, candidate.model_uri, candidate.run_id)
    created = client.create_model_version(
        name,
        source,
        run_id=candidate.run_id,
        tags=tags,
        description=f"Registered by mlflow-tflite promote from variant {candidate.variant}.",
        await_creation_for=0,
        model_id=model_id,
    )
    ready = wait_ready(client, name, created.version, ready_timeout_s)
    link_logged_model(client, ready)
    return ready


def link_logged_model(client: MlflowClient, version: ModelVersion) -> None:
    """List `version` in its logged model's `mlflow.modelVersions` tag, once.

    The UI's logged-model page reads that tag to show the registered versions.
    `mlflow.register_model` and a tracking server's create-version handler write it;
    `MlflowClient.create_model_version(model_id=...)` on a SQLite or file store does not,
    and the page would offer "Register model" for a model that already is.
    """
    from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

    # The SQLite registry keeps no model_id on the version: its source names the model.
    model_id = version.model_id or resolve_source(client, version.source or "", "")[1]
    if not model_id:
        return
    try:
        model = client.get_logged_model(model_id)
    except MlflowException as error:
        if _is_code(error, RESOURCE_DOES_NOT_EXIST):
            return
        raise
    linked = json.loads(model.tags.get(MLFLOW_MODEL_VERSIONS) or "[]")
    if any(entry.get("name") == version.name and str(entry.get("version")) == str(version.version)
           for entry in linked):
        return
    # As the tracking server writes it: the version as a number.
    linked.append({"name": version.name, "version": int(version.version)})
    client.set_logged_model_tags(model_id, {MLFLOW_MODEL_VERSIONS: json.dumps(linked)})


def alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version holding `alias`, or None (also when the model does not exist)."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        if _is_code(error, RESOURCE_DOES_NOT_EXIST) or "not found" in str(error).lower():
            return None
        raise


def _tag_metrics(tags: Mapping[str, str]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for key, value in tags.items():
        if key in _NOT_METRICS or key.startswith("mlflow") or not _METRIC_TAG.match(key):
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        if not math.isnan(number):
            metrics[key] = number
    return metrics


def version_metrics(client: MlflowClient, version: ModelVersion) -> dict[str, float]:
    """The champion's metrics: its tags, overlaid by its source run's metrics if it exists."""
    metrics = _tag_metrics(version.tags)
    if version.run_id:
        # A deleted run leaves the tags written at registration, which hold the same numbers.
        with contextlib.suppress(MlflowException):
            metrics.update(client.get_run(version.run_id).data.metrics)
    return metrics


def version_data_version(client: MlflowClient, version: ModelVersion) -> str | None:
    """The data version a model version was measured on (its tag, else its run's tag)."""
    if version.tags.get(DATA_VERSION_TAG):
        return version.tags[DATA_VERSION_TAG]
    if version.run_id:
        try:
            return client.get_run(version.run_id).data.tags.get(DATA_VERSION_TAG)
        except MlflowException:
            return None
    return None
