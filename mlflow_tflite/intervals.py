"""A compared number with its 95% interval, wherever it is shown.

A metric has an interval when its bounds are logged beside it, `<name>_ci_low` and
`<name>_ci_high` (`accuracy_delta_ci_low`, `mae_ci_high`, `latency_vs_fp32_ci_low`):
the tables, `compare`, the model card and the Pareto plot read them through `interval_of`,
so a metric that starts logging its bounds is shown with them without other changes.

    interval_of(row, "accuracy_delta")            # (-0.011, 0.003), or None
    with_interval(row, "accuracy_delta", "table")  # "-0.4 pt [-1.1, +0.3]"
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from mlflow_tflite.metrics import CI_HIGH, CI_LOW, Style, find_metric, format_metric


def bound_names(name: str) -> tuple[str, str]:
    """The metric keys of `name`'s interval: (`<name>_ci_low`, `<name>_ci_high`)."""
    return f"{name}{CI_LOW}", f"{name}{CI_HIGH}"


def is_bound(name: str) -> bool:
    """Whether `name` is an interval's bound (`accuracy_delta_ci_low`)."""
    return name.endswith((CI_LOW, CI_HIGH))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def interval_of(metrics: Mapping[str, Any], name: str) -> tuple[float, float] | None:
    """The (low, high) bounds logged for `name` in `metrics` (a run's metrics, a table
    row), or None when either is missing."""
    low, high = (_number(metrics.get(key)) for key in bound_names(name))
    if low is None or high is None:
        return None
    return low, high


def format_bound(name: str, value: float, style: Style = "table") -> str:
    """An interval's bound of metric `name` as its values are shown in `style`, without
    the unit, and with the metric's decimals on the card even when whole (`1.0000`)."""
    metric = find_metric(name)
    if style == "card" and metric is not None and metric.unit not in ("B", "version"):
        return f"{value:.{metric.decimals}f}"
    text = format_metric(name, value, style)
    shown_unit = metric is not None and (metric.unit or metric.points) and " " in text
    return text.rsplit(" ", 1)[0] if shown_unit else text


def with_interval(metrics: Mapping[str, Any], name: str, style: Style = "table") -> str:
    """`name`'s value in `metrics` as `format_metric` shows it, followed by its interval
    when one is logged: `-0.4 pt [-1.1, +0.3]`, `0.9650 [0.9610, 0.9690]`. An interval
    of no width (a model predicting exactly as fp32 does) adds nothing, nor does one a
    table shows in another column (`Metric.table_interval`)."""
    value = metrics.get(name)
    text = format_metric(name, value, style)
    bounds = interval_of(metrics, name)
    metric = find_metric(name)
    hidden = style == "text" or (style == "table" and metric and not metric.table_interval)
    if bounds is None or _number(value) is None or hidden:
        return text
    low, high = (format_bound(name, bound, style) for bound in bounds)
    return text if low == high else f"{text} [{low}, {high}]"
