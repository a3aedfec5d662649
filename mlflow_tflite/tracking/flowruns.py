"""Reading flow runs back: the one reader of the run layout (`layout.py`) that `compare`,
`run`'s nothing-changed shortcut and the registry share, so they agree on which runs
count (FINISHED parents tagged `mlflow_tflite.role=flow`) and read every page of children.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlflow_tflite.tracking.layout import (
    DELEGATE_TAG,
    ERROR_TAG,
    FAILED_STEP_TAG,
    FLOW_ROLE,
    INPUTS_KEY_TAG,
    PARENT_TAG,
    QUANTIZATION_TAG,
    REUSED_TAG,
    ROLE_TAG,
    SKIPPED_TAG,
    TECHNIQUE_TAG,
    VARIANT_ROLE,
    VARIANT_TAG,
    VERDICT_TAG,
)
from mlflow_tflite.tracking.records import FAILED, OK, VariantRecord, skipped_records

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

# The parent run's param listing the variant names in params.yaml order.
VARIANTS_PARAM = "variants"
_PAGE = 1000


def _client(client: MlflowClient | None) -> MlflowClient:
    from mlflow import MlflowClient

    return client or MlflowClient()


def child_runs(parent: Run, client: MlflowClient | None = None) -> list[Run]:
    """Every variant child run of the flow's parent run, all pages, in no set order."""
    client = _client(client)
    children: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            [parent.info.experiment_id],
            filter_string=(
                f"tags.`{PARENT_TAG}` = '{parent.info.run_id}' "
                f"and tags.`{ROLE_TAG}` = '{VARIANT_ROLE}'"
            ),
            max_results=_PAGE,
            page_token=token,
        )
        children.extend(page)
        token = page.token
        if not token:
            return children


def finished_flow_run(
    experiment: str, inputs_key: str | None = None, client: MlflowClient | None = None
) -> Run | None:
    """The newest FINISHED flow run of `experiment` (made from `inputs_key` if given)."""
    client = _client(client)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    condition = f" and tags.`{INPUTS_KEY_TAG}` = '{inputs_key}'" if inputs_key else ""
    runs = client.search_runs(
        [found.experiment_id],
        filter_string=(f"tags.`{ROLE_TAG}` = '{FLOW_ROLE}' and attributes.status = 'FINISHED'"
                       f"{condition}"),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def latest_flow_run(experiment: str, client: MlflowClient | None = None) -> str:
    """The id of the newest FINISHED flow run of `experiment`.

    Raises:
        LookupError: no such experiment, or no finished flow run in it.
    """
    if _client(client).get_experiment_by_name(experiment) is None:
        raise LookupError(f"no MLflow experiment named {experiment!r}")
    run = finished_flow_run(experiment, client=client)
    if run is None:
        raise LookupError(f"no finished flow run in experiment {experiment!r}")
    return run.info.run_id


def load_records(parent_run_id: str) -> list[VariantRecord]:
    """The variant records of a flow run, rebuilt from its child runs and its skipped
    variants (the parent's `mlflow_tflite.skipped` tag), in params order."""
    from mlflow import MlflowClient

    client = MlflowClient()
    parent = client.get_run(parent_run_id)
    runs = child_runs(parent, client)
    # Children are logged in parallel: the records follow params.yaml's variant order.
    names = parent.data.params.get(VARIANTS_PARAM, "")
    order = {name: index for index, name in enumerate(names.split(",")) if name}
    records = []
    for run in runs:
        tags = run.data.tags
        ok = run.info.status == "FINISHED" and ERROR_TAG not in tags
        records.append(
            VariantRecord(
                name=tags.get(VARIANT_TAG, run.info.run_name),
                technique=tags.get(TECHNIQUE_TAG, ""),
                quantization=tags.get(QUANTIZATION_TAG, ""),
                status=OK if ok else FAILED,
                metrics=dict(run.data.metrics),
                delegate=tags.get(DELEGATE_TAG, ""),
                error=tags.get(ERROR_TAG),
                failed_step=None if ok else tags.get(FAILED_STEP_TAG, "unknown"),
                reused=tags.get(REUSED_TAG) == "true",
                run_id=run.info.run_id,
                params=dict(run.data.params),
                verdict=tags.get(VERDICT_TAG) if ok else None,
            )
        )
    records.extend(skipped_records(parent.data.tags.get(SKIPPED_TAG, "")))
    return sorted(records, key=lambda r: order.get(r.name, len(order)))
