"""The variants of a flow run as a table (CSV, markdown, text) and a Pareto plot."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlflow_tflite.evaluate import USER_GROUP
from mlflow_tflite.metrics import (
    all_metrics,
    axis,
    find_metric,
    format_metric,
    metric_names,
    pareto_metrics,
    shown_in,
)
from mlflow_tflite.tracking.records import METRICS, VariantRecord

CHAMPION_KEY = "champion"
# The summary table (`run`, `compare`): these columns around the catalogue's `summary`
# metrics and the `evaluate` ones.
IDENTITY_COLUMNS = ("variant", "technique", "quantization")
STATUS_COLUMNS = ("delegate", "status")


def variant_rows(records: Sequence[VariantRecord]) -> list[dict[str, Any]]:
    """One flat row per variant: identity, every metric (the `evaluate` ones too),
    delegate latencies, status."""
    user_metrics = metric_names(USER_GROUP)
    rows = []
    for record in records:
        row: dict[str, Any] = {
            "variant": record.name,
            "technique": record.technique,
            "quantization": record.quantization,
        }
        row.update({name: record.metrics.get(name) for name in (*METRICS, *user_metrics)})
        row.update({k: v for k, v in sorted(record.metrics.items()) if "/" in k})
        row["delegate"] = record.delegate
        row["status"] = (record.status if record.ok or record.skipped
                         else f"FAILED ({record.failed_step})")
        row["reused"] = record.reused
        row["error"] = record.error or ""
        row["run_id"] = record.run_id or ""
        rows.append(row)
    return rows


def format_table(rows: Sequence[dict[str, Any]], fmt: str = "table") -> str:
    """Rows as `table` (aligned text), `markdown` or `csv` (all columns, raw numbers)."""
    import pandas as pd

    if fmt == "csv":
        return pd.DataFrame(list(rows)).to_csv(index=False)
    # The `evaluate` metrics some row has, after the summary metrics.
    user = [m for m in metric_names(USER_GROUP) if any(row.get(m) is not None for row in rows)]
    columns = [*IDENTITY_COLUMNS, *shown_in("summary"), *user, *STATUS_COLUMNS]
    # A run without accuracy (outputs that are not class scores, synthetic inputs) shows
    # its fidelity to the float model in those columns instead.
    stand_ins = {m.stands_in_for: m.name for m in all_metrics() if m.stands_in_for}
    if not any(row.get(c) is not None for row in rows for c in stand_ins):
        columns = [stand_ins.get(c, c) for c in columns]
    cells = [{c: format_metric(c, row.get(c), "table") for c in columns} for row in rows]
    frame = pd.DataFrame(cells, columns=columns)
    if fmt == "markdown":
        return frame.to_markdown(index=False)
    if fmt == "table":
        return frame.to_string(index=False)
    raise ValueError(f"unknown format {fmt!r}; expected table, csv or markdown")


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points no other point beats: cost (x) lower or equal, accuracy (y)
    higher or equal, and strictly better in one of them."""
    front = []
    for i, (xi, yi) in enumerate(points):
        dominated = any(
            xj <= xi and yj >= yi and (xj < xi or yj > yi)
            for j, (xj, yj) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return front


def pareto_plot(records: Sequence[VariantRecord], path: str | Path,
                size_metric: str | None = None) -> Path:
    """The catalogue's Pareto quality metric (accuracy) against each of its cost metrics
    (size, p50 latency), the Pareto front highlighted; `size_metric` (`gzip_size_bytes`)
    replaces the cost metric counted in bytes.

    Failed variants and those without the metric are left out. Written as PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    (quality,) = pareto_metrics("quality")
    costs = [size_metric if size_metric and find_metric(m).unit == "B" else m
             for m in pareto_metrics("cost")]
    ok = [r for r in records if r.ok and r.metrics.get(quality) is not None]
    fig, axes = plt.subplots(1, len(costs), figsize=(12, 4.8))
    for ax, metric in zip(axes, costs, strict=True):
        label, scale = axis(metric)
        points = [
            (r.metrics[metric] * scale, r.metrics[quality], r.name)
            for r in ok
            if r.metrics.get(metric) is not None
        ]
        front = set(pareto_front([(x, y) for x, y, _ in points]))
        for i, (x, y, name) in enumerate(points):
            on_front = i in front
            ax.scatter(
                x, y, s=70 if on_front else 35, c="tab:red" if on_front else "tab:gray",
                zorder=3, edgecolors="black" if on_front else "none",
            )
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        line = sorted((points[i][0], points[i][1]) for i in front)
        if len(line) > 1:
            ax.plot(*zip(*line, strict=True), c="tab:red", lw=1.2, zorder=2, label="Pareto front")
            ax.legend(loc="lower right", fontsize=8)
        # Variants differ by factors (int16x8 runs ~100x slower than int8): a log axis
        # keeps the fast, small ones from collapsing into one point.
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"{label}, log scale")
        ax.set_ylabel(axis(quality)[0])
        ax.set_title(f"{quality} vs {find_metric(metric).label}")
        ax.grid(alpha=0.3)
    return save_figure(fig, path)


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write a matplotlib figure as PNG (parent folders created) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# Beside the reports: the newest run's `.tflite` files, one per finished variant.
MODELS_DIR = "models"


def report_paths(directory: str | Path) -> dict[str, Path]:
    """Where `write_reports` puts each report, by kind."""
    directory = Path(directory)
    return {
        "csv": directory / "variants.csv",
        "markdown": directory / "variants.md",
        "metrics": directory / "metrics.json",
        "plot": directory / "pareto.png",
    }


def champion_variant(decision: dict[str, Any] | None) -> str | None:
    """The variant a promotion decision (`Decision.to_dict()`) picked for its first
    target, promoted or offered as challenger; None without a winner or a decision."""
    targets = (decision or {}).get("targets") or []
    return targets[0].get("winner") if targets else None


def headline_metrics(
    records: Sequence[VariantRecord], champion: str | None = None
) -> dict[str, Any]:
    """The DVC metrics: the headline metrics per successful variant and, under the fixed
    key `champion`, the picked variant's name and metrics, so `dvc exp show` has one
    column per headline metric that compares across experiments."""
    metrics: dict[str, Any] = {
        r.name: {k: r.metrics[k] for k in shown_in("headline")
                 if r.metrics.get(k) is not None}
        for r in records
        if r.ok
    }
    if champion in metrics:
        metrics[CHAMPION_KEY] = {"variant": champion, **metrics[champion]}
    return metrics


def write_metrics(
    records: Sequence[VariantRecord], directory: str | Path, champion: str | None = None
) -> Path:
    """Write `metrics.json` (`headline_metrics`) to `directory`; returns its path."""
    path = report_paths(directory)["metrics"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(headline_metrics(records, champion), indent=2) + "\n")
    return path


def write_reports(
    records: Sequence[VariantRecord], directory: str | Path, champion: str | None = None
) -> dict[str, Path]:
    """Write `variants.csv`, `variants.md`, `metrics.json` and `pareto.png` to `directory`.

    `metrics.json` maps each successful variant to its headline metrics, the shape
    `dvc metrics show` flattens into `<variant>.<metric>` columns, plus `champion.*`;
    every metric of every variant is in `variants.csv`.
    """
    Path(directory).mkdir(parents=True, exist_ok=True)
    rows = variant_rows(records)
    paths = report_paths(directory)
    paths["csv"].write_text(format_table(rows, "csv"))
    paths["markdown"].write_text(format_table(rows, "markdown") + "\n")
    write_metrics(records, directory, champion)
    pareto_plot(records, paths["plot"])
    return paths


def write_models(records: Sequence[VariantRecord], directory: str | Path) -> Path:
    """Copy each finished variant's `.tflite` to `<directory>/models/<variant>.tflite`, so
    a user can take one without MLflow; the folder holds the newest run's variants only.

    Returns:
        The models folder.
    """
    import shutil

    target = Path(directory) / MODELS_DIR
    target.mkdir(parents=True, exist_ok=True)
    for stale in target.glob("*.tflite"):
        stale.unlink()
    for record in records:
        if record.ok and record.tflite_path:
            shutil.copyfile(record.tflite_path, target / f"{record.name}.tflite")
    return target
