"""Read a flow run (parent run and its variant child runs) into policy candidates."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlflow import MlflowClient
from mlflow.entities import Run, RunStatus

from mlflow_tflite.registry.policy import Candidate
from mlflow_tflite.tracking.flowruns import child_runs
from mlflow_tflite.tracking.layout import (
    DATA_VERSION_TAG,
    ERROR_TAG,
    MODEL_URI_TAG,
    VARIANT_TAG,
)


@dataclass(frozen=True)
class FlowRun:
    """The variants of one flow run that the policy may promote."""

    run_id: str
    experiment_id: str
    data_version: str | None
    candidates: list[Candidate]
    ignored: dict[str, str] = field(default_factory=dict)  # variant -> run status


def variant_model_uri(run: Run) -> str:
    """Where the child run logged its model: its tag, else `runs:/<run>/model`."""
    return run.data.tags.get(MODEL_URI_TAG) or f"runs:/{run.info.run_id}/model"


def read_flow_run(client: MlflowClient, parent_run_id: str) -> FlowRun:
    """The FINISHED variant runs of `parent_run_id`; other statuses are listed as ignored.

    The parent may still be running (the flow promotes at its end).
    """
    parent = client.get_run(parent_run_id)
    experiment_id = parent.info.experiment_id
    children = child_runs(parent, client)
    parent_data_version = parent.data.tags.get(DATA_VERSION_TAG)
    candidates: list[Candidate] = []
    ignored: dict[str, str] = {}
    for run in sorted(children, key=lambda r: r.data.tags.get(VARIANT_TAG, r.info.run_name)):
        variant = run.data.tags.get(VARIANT_TAG) or run.info.run_name or run.info.run_id
        if run.info.status != RunStatus.to_string(RunStatus.FINISHED):
            ignored[variant] = run.info.status
            continue
        if ERROR_TAG in run.data.tags:
            ignored[variant] = "error"
            continue
        candidates.append(
            Candidate(
                variant=variant,
                run_id=run.info.run_id,
                metrics=dict(run.data.metrics),
                tags=dict(run.data.tags),
                model_uri=variant_model_uri(run),
                data_version=run.data.tags.get(DATA_VERSION_TAG) or parent_data_version,
            )
        )
    versions = {c.data_version for c in candidates}
    data_version = parent_data_version or (versions.pop() if len(versions) == 1 else None)
    return FlowRun(parent_run_id, experiment_id, data_version, candidates, ignored)
