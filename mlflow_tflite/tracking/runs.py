"""MLflow logging of one flow run: a parent run, one nested child run per variant.

Layout (the same in every run, so the compare view lines up; docs/architecture.md says
where each name is defined):
- experiment: tag `mlflow.experimentKind=custom_model_development` (tracking.ui).
- parent: params (the `data`, `train`, `benchmark`, `promote` and `runner` sections as
  dotted keys, `train.epochs`, plus `variants`: the variant names in order; the whole
  file is the `params.yaml` artifact), tags `data_version`, `git_commit`,
  `mlflow_tflite.role=flow`, metric `baseline_accuracy`, the dataset (`mlflow.log_input`),
  artifacts `params.yaml`, `pareto.png`, `variants.csv`, `variants.md` and the table
  `variants.json` (`mlflow.log_table`).
- child (tag `mlflow.parentRunId`, run name = variant name): params (the variant's own
  config, `convert.quantization`, `compress.prune.final_sparsity`, ...), tags
  `mlflow_tflite.variant`, `technique`, `quantization`, `delegate`, `data_version`,
  `git_commit`; every metric; artifacts `measurement.json` and the model logged through
  the `tflite` flavor under the variant's name, with the same params as model params.
  A quantized variant also logs `layer_errors.json` (`mlflow.log_table`) and
  `layer_errors.png`.
  A failed variant's child ends FAILED with tag `mlflow_tflite.error` and `error.txt`.

Children are written with explicit run ids (MlflowClient) so threads can log them at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlflow_tflite.errors import first_line
from mlflow_tflite.tracking.flowruns import VARIANTS_PARAM
from mlflow_tflite.tracking.layers import layer_title, log_layer_errors
from mlflow_tflite.tracking.layout import (
    DELEGATE_TAG,
    ERROR_TAG,
    FAILED_STEP_TAG,
    FLOW_ROLE,
    INPUTS_KEY_TAG,
    PARENT_TAG,
    QUANTIZATION_TAG,
    REUSED_STEPS_TAG,
    REUSED_TAG,
    ROLE_TAG,
    TECHNIQUE_TAG,
    VARIANT_ROLE,
    VARIANT_TAG,
    VERDICT_TAG,
)
from mlflow_tflite.tracking.models import (
    conversion_params,
    log_tflite_model,
)
from mlflow_tflite.tracking.records import VariantRecord
from mlflow_tflite.tracking.ui import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
RECORD_ARTIFACT = "mlflow_tflite/record.json"
TABLE_ARTIFACT = "variants.json"
# The params.yaml sections the parent run logs as params; `variants` is one param (the
# names), each child logs its own variant, and `mlflow` names the store they are in.
PARENT_SECTIONS = ("data", "train", "evaluate", "benchmark", "promote", "runner")
MAX_TAG_CHARS = 500


def resolve_tracking_uri(configured: str | None = None) -> str:
    """`configured`, else $MLFLOW_TRACKING_URI, else SQLite `mlflow.db` in the working directory.

    Always explicit: without it MLflow 3 falls back to a `./mlruns` file store.
    """
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        # Absolute, so the printed `mlflow ui` command works from any directory.
        uri = f"sqlite:///{(Path.cwd() / uri.removeprefix('sqlite:///')).resolve()}"
    return uri


def configure_tracking(uri: str) -> None:
    """Point MLflow's tracking and registry at `uri` (process-wide)."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def git_commit(directory: str | Path = ".") -> str:
    """The HEAD commit of the repository around `directory` (`-dirty` if modified)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}-dirty" if status else head


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested mappings and lists of mappings as `a.b.0.c` keys, the `--set` paths."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        text = json.dumps(value) if isinstance(value, list | tuple) else str(value)
        return {prefix: text}
    flat: dict[str, str] = {}
    for key, item in items:
        flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def ensure_experiment(name: str) -> str:
    """The id of experiment `name`, created if missing (tolerating a concurrent create).

    The experiment carries `mlflow.experimentKind=custom_model_development`, so the UI
    opens it on its model-training pages; an existing experiment without the tag gets it,
    one with another kind keeps it.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
        except MlflowException:
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if EXPERIMENT_KIND_TAG not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return experiment.experiment_id


def experiment_id_of(run_id: str) -> str:
    """The id of the experiment that holds `run_id`."""
    from mlflow import MlflowClient

    return MlflowClient().get_run(run_id).info.experiment_id


def parent_params(params: dict[str, Any]) -> dict[str, str]:
    """The parent run's params: the short keys of `PARENT_SECTIONS` and the variant names."""
    flat = flatten({k: params[k] for k in PARENT_SECTIONS if k in params})
    flat[VARIANTS_PARAM] = ",".join(v["name"] for v in params.get("variants", []))
    return flat


def variant_params(variant: Any) -> dict[str, str]:
    """A variant's own config as params (`convert.quantization`, `compress.prune.epochs`),
    the same names in every child run; `variant` is a VariantConfig or its dict."""
    config = variant.model_dump(mode="json", exclude_none=True) if hasattr(
        variant, "model_dump") else dict(variant)
    config.pop("name", None)
    return {k: v for k, v in flatten(config).items() if k}


def start_parent_run(experiment_id: str, run_name: str, tags: dict[str, str]) -> str:
    """Create the flow's parent run; returns its id."""
    from mlflow import MlflowClient

    run = MlflowClient().create_run(
        experiment_id, run_name=run_name, tags={ROLE_TAG: FLOW_ROLE, **tags}
    )
    return run.info.run_id


def _log_batch(run_id: str, metrics: dict[str, float] | None = None,
               params: dict[str, str] | None = None, tags: dict[str, str] | None = None) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient()
    now = int(time.time() * 1000)
    metric_list = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items() if v is not None]
    param_list = [Param(k, v) for k, v in (params or {}).items()]
    tag_list = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
    # The REST API takes at most 100 params, 100 tags and 1000 entries per batch; one call
    # when they fit (a search trial's logging is bookkeeping the search pays per trial).
    if (len(param_list) <= 100 and len(tag_list) <= 100
            and len(param_list) + len(tag_list) + len(metric_list) <= 1000):
        client.log_batch(run_id, metrics=metric_list, params=param_list, tags=tag_list)
        return
    for start in range(0, max(len(param_list), 1), 100):
        client.log_batch(run_id, params=param_list[start : start + 100])
    for start in range(0, len(metric_list), 900):
        client.log_batch(run_id, metrics=metric_list[start : start + 900])
    if tag_list:
        client.log_batch(run_id, tags=tag_list)


def log_parent(
    run_id: str,
    params: dict[str, Any],
    *,
    baseline_accuracy: float | None,
    history: dict[str, list[float]] | None = None,
    datasets: Sequence[tuple[Any, str]] = (),
    tags: dict[str, str] | None = None,
) -> None:
    """Log the sections' params, `params.yaml`, the baseline accuracy and the datasets.

    Args:
        params: the validated params as a JSON-able mapping (what actually ran); the
            parent logs `parent_params(params)`, the whole mapping as `params.yaml`.
        history: the baseline's per-epoch training curves, logged as `baseline/<name>`
            with the epoch as step.
        datasets: `(mlflow.data.Dataset, context)` pairs for `log_input`.
        tags: facts about the baseline (`WEIGHTS_STORAGE_TAG`).
    """
    import mlflow
    import yaml
    from mlflow.entities import Metric

    _log_batch(run_id, params=parent_params(params),
               metrics={"baseline_accuracy": baseline_accuracy}, tags=tags)
    client = mlflow.MlflowClient()
    now = int(time.time() * 1000)
    curves = [
        Metric(f"baseline/{name}", float(value), now, epoch)
        for name, values in (history or {}).items()
        for epoch, value in enumerate(values, start=1)
    ]
    if curves:
        client.log_batch(run_id, metrics=curves)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "params.yaml"
        path.write_text(yaml.safe_dump(params, sort_keys=False))
        client.log_artifact(run_id, str(path))
    if datasets:
        from mlflow.entities import DatasetInput, InputTag

        client.log_inputs(
            run_id,
            datasets=[
                DatasetInput(ds._to_mlflow_entity(), [InputTag("mlflow.data.context", context)])
                for ds, context in datasets
            ],
        )


def numpy_dataset(features: Any, targets: Any, name: str, digest: str, source: str) -> Any:
    """An `mlflow.data` dataset whose digest is our data version (cut to MLflow's 36 chars;
    the full version is the runs' `data_version` tag)."""
    import mlflow.data

    with warnings.catch_warnings():
        # MLflow registers its local-file source twice and warns that a path is ambiguous.
        warnings.filterwarnings("ignore", "The specified dataset source", UserWarning)
        return mlflow.data.from_numpy(features, targets=targets, name=name, digest=digest[:36],
                                      source=str(Path(source).resolve()))


def find_child(parent_run_id: str, variant: str, experiment_id: str) -> str | None:
    """The child run already logged for `variant` under the parent (a retried log)."""
    from mlflow import MlflowClient

    runs = MlflowClient().search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{PARENT_TAG}` = '{parent_run_id}' and tags.`{VARIANT_TAG}` = '{variant}'"
        ),
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def log_variant(
    parent_run_id: str,
    record: VariantRecord,
    *,
    common_tags: dict[str, str],
    input_example: Any = None,
    role: str = VARIANT_ROLE,
    params: dict[str, Any] | None = None,
    log_model: bool = True,
    layer_plot: bool = True,
) -> str:
    """Log one variant as a child run of `parent_run_id`; returns the child run id.

    A successful record gets its metrics, tags, `measurement.json` and the model through
    the `tflite` flavor and ends FINISHED; a failed one gets `mlflow_tflite.error`,
    `error.txt` and ends FAILED. Safe to call again for the same variant (a retry): the
    existing child is reused, not duplicated. `role` is the `mlflow_tflite.role` tag (a
    search trial: `trial`); `params` are logged as run params (a trial's sampled values);
    `log_model=False` leaves the model for `log_variant_model` (a search logs the models of
    its Pareto-optimal trials only, so a trial costs a few tracking calls); `layer_plot=False`
    logs the per-layer table without its PNG (drawn later for those trials only).
    """
    import mlflow

    client = mlflow.MlflowClient()
    parent = client.get_run(parent_run_id)
    tags = {
        **common_tags,
        VARIANT_TAG: record.name,
        ROLE_TAG: role,
        TECHNIQUE_TAG: record.technique,
        QUANTIZATION_TAG: record.quantization,
        DELEGATE_TAG: record.delegate,
        REUSED_TAG: str(record.reused).lower(),
    }
    run_id = find_child(parent_run_id, record.name, parent.info.experiment_id)
    if run_id is None:
        run_id = client.create_run(
            parent.info.experiment_id,
            run_name=record.name,
            tags={PARENT_TAG: parent_run_id, **tags},
        ).info.run_id
    record.run_id = run_id
    try:
        sampled = {k: str(v) for k, v in (params or {}).items()}
        if record.ok:
            # A deployment target's tags (`mcu/compatible`, `app/min_runtime`).
            tags.update(record.measurement.get("targets", {}).get("tags", {}))
            reused_steps = (record.measurement.get("compression") or {}).get("reused_steps")
            if reused_steps:
                tags[REUSED_STEPS_TAG] = "+".join(reused_steps)
            _log_batch(run_id, metrics=record.metrics, tags=tags,
                       params={**sampled, **record.params, **conversion_params(record)})
            client.log_dict(run_id, record.measurement, "measurement.json")
            if record.measurement.get("layers"):
                log_layer_errors(run_id, record.measurement["layers"], plot=layer_plot,
                                 title=layer_title(record.name))
            if log_model:
                log_tflite_model(run_id, record, input_example)
        else:
            message = first_line(record.error, limit=MAX_TAG_CHARS)
            failure = {ERROR_TAG: message, FAILED_STEP_TAG: record.failed_step or "unknown",
                       VERDICT_TAG: first_line(record.verdict_line(), limit=MAX_TAG_CHARS)}
            _log_batch(run_id, params={**sampled, **record.params}, tags={**tags, **failure})
            client.log_text(run_id, record.traceback or record.error or "", "error.txt")
        client.log_dict(run_id, record.to_dict(), RECORD_ARTIFACT)
    except Exception:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED" if record.ok else "FAILED")
    return run_id


def tag_verdicts(run_verdicts: Mapping[str, str], client: Any = None) -> None:
    """Write each verdict on its run (run id -> verdict) as `mlflow_tflite.verdict`."""
    from mlflow import MlflowClient

    client = client or MlflowClient()
    for run_id, verdict in run_verdicts.items():
        client.set_tag(run_id, VERDICT_TAG, verdict)


def judged(records: Sequence[VariantRecord]) -> dict[str, str]:
    """Run id -> verdict of the logged, judged finished variants (a failed run got its
    verdict when it was logged)."""
    return {r.run_id: r.verdict for r in records if r.ok and r.run_id and r.verdict}


def log_report(run_id: str, paths: dict[str, Path],
               rows: Sequence[dict[str, Any]] = ()) -> None:
    """Attach the report files (plot, CSV, markdown) to the parent run, and `rows` (the
    variants table) as `variants.json` through `mlflow.log_table`: viewable and sortable
    in the UI's artifact view."""
    import mlflow
    import pandas as pd

    client = mlflow.MlflowClient()
    for key in ("plot", "csv", "markdown"):
        client.log_artifact(run_id, str(paths[key]))
    if rows:
        mlflow.log_table(pd.DataFrame(list(rows)), TABLE_ARTIFACT, run_id=run_id)


def end_run(run_id: str, ok: bool, inputs_key: str | None = None) -> None:
    """End the parent run FINISHED or FAILED; a finished one records its `inputs_key`."""
    from mlflow import MlflowClient

    client = MlflowClient()
    if ok and inputs_key:
        client.set_tag(run_id, INPUTS_KEY_TAG, inputs_key)
    client.set_terminated(run_id, "FINISHED" if ok else "FAILED")
