"""A search's MLflow side beyond single trials: promotion candidates, the parent run,
and writing found trials back into a params file as named variants."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlflow_tflite.search.trial import TrialResult, trial_name
from mlflow_tflite.tracking.layout import (
    DELEGATE_TAG,
    PARENT_TAG,
    PARETO_TAG,
    ROLE_TAG,
    TRIAL_ROLE,
    TRIAL_TAG,
    VARIANT_ROLE,
)


def trial_runs(parent_run_id: str) -> dict[int, Any]:
    """The trial child runs of a search's parent run, by trial number."""
    from mlflow import MlflowClient

    client = MlflowClient()
    parent = client.get_run(parent_run_id)
    found: dict[int, Any] = {}
    token = None
    while True:
        page = client.search_runs([parent.info.experiment_id],
                                  f"tags.`{PARENT_TAG}` = '{parent_run_id}'",
                                  max_results=1000, page_token=token)
        for run in page:
            number = run.data.tags.get(TRIAL_TAG)
            if number is not None and number.isdigit():
                found[int(number)] = run
        token = page.token
        if not token:
            return found


def mark_candidates(parent_run_id: str, candidates: set[int]) -> None:
    """Make the `candidates` trials the parent run's variants (role `variant`, tag
    `mlflow_tflite.pareto=true`) and every other trial a plain trial again, so
    `promote_flow_run` (and `mlflow-tflite promote --run-id`) sees exactly them."""
    from mlflow import MlflowClient

    client = MlflowClient()
    for number, run in trial_runs(parent_run_id).items():
        chosen = number in candidates
        role = VARIANT_ROLE if chosen else TRIAL_ROLE
        if run.data.tags.get(ROLE_TAG) != role:
            client.set_tag(run.info.run_id, ROLE_TAG, role)
        if run.data.tags.get(PARETO_TAG) != str(chosen).lower():
            client.set_tag(run.info.run_id, PARETO_TAG, str(chosen).lower())


def log_models(parent_run_id: str, candidates: Sequence[TrialResult], baseline: Any,
               store: Any, input_example: Any = None) -> None:
    """Log the `.tflite` of each candidate trial (from the artifact store) through the
    `tflite` flavor, unless its child run already has it: only the candidates need a model
    in MLflow (the registry registers it), every trial's file stays in the store."""
    from mlflow_tflite.config import VariantConfig
    from mlflow_tflite.pipeline import keys, steps
    from mlflow_tflite.tracking import VariantRecord
    from mlflow_tflite.tracking.layers import layer_title, log_layer_plot, logged_layer_rows
    from mlflow_tflite.tracking.layout import MODEL_URI_TAG
    from mlflow_tflite.tracking.models import log_variant_model

    runs = trial_runs(parent_run_id)
    for result in candidates:
        run = runs.get(result.number)
        if run is None or MODEL_URI_TAG in run.data.tags:
            continue
        variant = VariantConfig.model_validate(result.variant)
        build = steps.stored_build(store, keys.build_key(baseline.key, variant))
        if build is None:
            continue
        record = VariantRecord(name=variant.name, technique=variant.technique,
                               quantization=variant.convert.quantization,
                               delegate=run.data.tags.get(DELEGATE_TAG, ""),
                               tflite_path=build.tflite_path)
        log_variant_model(run.info.run_id, record, input_example)
        # Trials log the per-layer table only; the candidates get its plot, as variants do.
        rows = logged_layer_rows(run.info.run_id)
        if rows:
            log_layer_plot(run.info.run_id, rows, layer_title(variant.name))


def without_model(parent_run_id: str, numbers: Sequence[int]) -> list[int]:
    """The trials among `numbers` whose child run has no logged model yet (a team-mate
    built them and has not logged them, or their machine's store is gone)."""
    from mlflow_tflite.tracking.layout import MODEL_URI_TAG

    runs = trial_runs(parent_run_id)
    return [n for n in numbers if n not in runs or MODEL_URI_TAG not in runs[n].data.tags]


def reopen_parent(run_id: str | None) -> bool:
    """Set a previous invocation's parent run RUNNING again; False when it is gone."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if not run_id:
        return False
    client = MlflowClient()
    try:
        run = client.get_run(run_id)
    except MlflowException:
        return False
    if run.info.lifecycle_stage != "active":
        return False
    client.update_run(run_id, status="RUNNING")
    return True


def save_variants(params_path: str | Path, overrides: list[str], found: Sequence[TrialResult],
                  output: str | Path) -> list[str]:
    """Write the params (with overrides applied) plus the found trials as named variants
    (`trial-<n>`) to `output`, with `search.enabled: false`, so `mlflow-tflite run
    --params output` reproduces them (from the artifact store when it still holds them).

    Returns:
        The names of the variants added.
    """
    import yaml

    from mlflow_tflite.config.overrides import apply_overrides
    from mlflow_tflite.config.params import read_params_file

    raw = apply_overrides(read_params_file(params_path)[0], overrides)
    variants = raw.setdefault("variants", [])
    taken = {v.get("name") for v in variants}
    added = []
    for result in found:
        name = trial_name(result.number)
        if name in taken:
            continue
        variant = {key: value for key, value in result.variant.items() if key != "name"}
        compress = {k: v for k, v in (variant.get("compress") or {}).items() if v is not None}
        variants.append({"name": name, **({"compress": compress} if compress else {}),
                         "convert": variant.get("convert", {})})
        added.append(name)
    raw.setdefault("search", {})["enabled"] = False
    Path(output).write_text(yaml.safe_dump(raw, sort_keys=False))
    return added
