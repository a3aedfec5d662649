"""Links into the MLflow UI: the one place that builds them.

MLflow 3.17's UI picks its GenAI or model-training pages from the URL parameter
`workflowType` and otherwise defaults to GenAI (traces, all empty here), so every link the
tool prints carries `?workflowType=machine_learning`. Experiments also carry the
`mlflow.experimentKind` tag, which the UI reads when its workflow selector is off.
"""

from __future__ import annotations

WORKFLOW_QUERY = "?workflowType=machine_learning"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
# Where `mlflow ui` listens by default.
LOCAL_UI = "http://127.0.0.1:5000"


def is_server(uri: str) -> bool:
    """Whether `uri` is an MLflow tracking server (which serves the UI itself)."""
    return uri.startswith(("http://", "https://"))


def experiment_url(base: str, experiment_id: str, run_id: str | None = None) -> str:
    """The UI page of an experiment's runs (or of one run), on the model-training pages.

    Args:
        base: the UI's address, e.g. `http://127.0.0.1:5000`.
        experiment_id: the experiment's id.
        run_id: a run of it, to link that run's page instead.
    """
    page = f"{base.rstrip('/')}/#/experiments/{experiment_id}"
    if run_id:
        page += f"/runs/{run_id}"
    return page + WORKFLOW_QUERY


def ui_command(uri: str) -> str:
    """The command that starts the MLflow UI on the store `uri` (nothing for a server)."""
    return "" if is_server(uri) else f"mlflow ui --backend-store-uri {uri}"


def ui_hint(uri: str, experiment_id: str | None) -> str:
    """One line telling the user how to open the experiment's runs in the MLflow UI."""
    base = uri if is_server(uri) else LOCAL_UI
    link = experiment_url(base, experiment_id) if experiment_id else base + "/" + WORKFLOW_QUERY
    if is_server(uri):
        return f"open {link}"
    return f"{ui_command(uri)}, then open {link}"
