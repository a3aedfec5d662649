"""Serve the `optimize` flow as a Prefect deployment on a cron schedule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlflow_tflite.config import RunnerConfig
from mlflow_tflite_flows.optimize import optimize
from mlflow_tflite_flows.runner import make_task_runner

DEFAULT_NAME = "mlflow-tflite-optimize"


def validate_cron(expression: str) -> str:
    """The expression if Prefect accepts it as a cron schedule.

    Raises:
        ValueError: one line naming the expression.
    """
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    try:
        CronSchedule(cron=expression)
    except (ValidationError, ValueError):
        raise ValueError(
            f"invalid cron expression {expression!r}; expected five fields, "
            "e.g. '0 3 * * *' (03:00 every day)"
        ) from None
    return expression


def build_deployment(
    cron: str,
    name: str = DEFAULT_NAME,
    params_path: str | Path = "params.yaml",
    overrides: list[str] | None = None,
    runner: RunnerConfig | None = None,
) -> Any:
    """The deployment (not yet served): the flow, its schedule and default parameters.

    The params path is made absolute, so scheduled runs read the same file wherever the
    serving process was started. `runner` (the params' `runner` section) is the task runner
    of every scheduled run; the default is threads.
    """
    flow = optimize
    if runner is not None:
        flow = optimize.with_options(task_runner=make_task_runner(runner))
    return flow.to_deployment(
        name=name,
        cron=validate_cron(cron),
        parameters={"params_path": str(Path(params_path).resolve()),
                    "overrides": list(overrides or [])},
        description="Build, measure, log and promote TFLite variants (mlflow-tflite).",
        tags=["mlflow-tflite"],
    )


def serve(deployment: Any) -> None:
    """Register the deployment with the Prefect API and run its scheduled flow runs
    until interrupted (Ctrl-C)."""
    from prefect import serve as prefect_serve

    prefect_serve(deployment)
