"""MLflow logging of flow runs (parent and per-variant child runs) and their reports.

A library module: no Prefect. The flow in `flows/optimize.py` calls these functions.
"""

from mlflow_tflite.tracking import store
from mlflow_tflite.tracking.flowruns import (
    child_runs,
    finished_flow_run,
    latest_flow_run,
    load_records,
)
from mlflow_tflite.tracking.pareto import pareto_front, pareto_plot
from mlflow_tflite.tracking.records import (
    FAILED,
    METRICS,
    OK,
    SKIPPED,
    VariantRecord,
    skipped_records,
    skipped_tag,
)
from mlflow_tflite.tracking.report import (
    champion_variant,
    format_table,
    report_paths,
    variant_rows,
    write_metrics,
    write_models,
    write_reports,
)
from mlflow_tflite.tracking.runs import (
    configure_tracking,
    ensure_experiment,
    experiment_id_of,
    flatten,
    git_commit,
    log_parent,
    log_report,
    log_variant,
    resolve_tracking_uri,
    start_parent_run,
    variant_params,
)
from mlflow_tflite.tracking.ui import experiment_url, ui_command, ui_hint

__all__ = [
    "FAILED",
    "METRICS",
    "OK",
    "SKIPPED",
    "VariantRecord",
    "champion_variant",
    "child_runs",
    "configure_tracking",
    "ensure_experiment",
    "experiment_id_of",
    "experiment_url",
    "finished_flow_run",
    "flatten",
    "format_table",
    "git_commit",
    "latest_flow_run",
    "load_records",
    "log_parent",
    "log_report",
    "log_variant",
    "pareto_front",
    "pareto_plot",
    "report_paths",
    "resolve_tracking_uri",
    "skipped_records",
    "skipped_tag",
    "start_parent_run",
    "store",
    "ui_command",
    "ui_hint",
    "variant_params",
    "variant_rows",
    "write_metrics",
    "write_models",
    "write_reports",
]
