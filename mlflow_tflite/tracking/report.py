"""The variants of a flow run as reports: a table (CSV, markdown, text), `metrics.json`
and the Pareto plot (`tracking.pareto`)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlflow_tflite.evaluate import USER_GROUP
from mlflow_tflite.intervals import bound_names, is_bound, with_interval
from mlflow_tflite.metrics import (
    all_metrics,
    metric_names,
    shown_in,
)
from mlflow_tflite.tracking.pareto import pareto_plot
from mlflow_tflite.tracking.records import METRICS, VariantRecord

CHAMPION_KEY = "champion"
# A target's column (`plugins.target.table_column`): `mcu (tflm)`.
_TARGET_COLUMN = re.compile(r"^\S+ \([a-z_]+\)$")
# The summary table (`run`, `compare`): these columns around the catalogue's `summary`
# metrics, the `evaluate` ones and one per deployment target.
IDENTITY_COLUMNS = ("variant", "technique", "quantization")
STATUS_COLUMNS = ("delegate", "verdict")


def variant_rows(records: Sequence[VariantRecord]) -> list[dict[str, Any]]:
    """One flat row per variant: identity, every metric (the `evaluate` ones too) with
    its interval's bounds beside it when logged, delegate latencies, status."""
    user_metrics = metric_names(USER_GROUP)
    rows = []
    for record in records:
        row: dict[str, Any] = {
            "variant": record.name,
            "technique": record.technique,
            "quantization": record.quantization,
        }
        row.update({name: record.metrics.get(name) for name in (*METRICS, *user_metrics)})
        row.update({k: v for k, v in record.metrics.items()
                    if is_bound(k) and "/" not in k and k not in row})
        row.update({k: v for k, v in sorted(record.metrics.items()) if "/" in k})
        row.update(_target_cells(record))
        row["delegate"] = record.delegate
        row["status"] = (record.status if record.ok or record.skipped
                         else f"FAILED ({record.failed_step})")
        row["verdict"] = record.verdict_line()
        row["reused"] = record.reused
        row["error"] = record.error or ""
        row["run_id"] = record.run_id or ""
        rows.append(_bounds_beside(row))
    return rows


def _bounds_beside(row: dict[str, Any]) -> dict[str, Any]:
    """`row` with each interval's bounds right after its metric (CSV, `variants.json`)."""
    ordered: dict[str, Any] = {}
    for key, value in row.items():
        if key in ordered:
            continue
        ordered[key] = value
        ordered.update({bound: row[bound] for bound in bound_names(key) if bound in row})
    return ordered


def _target_cells(record: VariantRecord) -> dict[str, Any]:
    """A record's target tags (`mcu/compatible`) and one cell per target (`mcu (tflm)`)."""
    from mlflow_tflite.plugins.target import get_kind, table_column, target_cell

    found = record.measurement.get("targets") or {}
    cells: dict[str, Any] = dict(sorted(found.get("tags", {}).items()))
    for name, kind in found.get("kinds", {}).items():
        prefix = f"{name}/"
        values = {k.removeprefix(prefix): v for k, v in
                  [*found.get("metrics", {}).items(), *found.get("tags", {}).items()]
                  if k.startswith(prefix)}
        cells[table_column(name, kind)] = target_cell(get_kind(kind), values)
    return cells


def format_table(rows: Sequence[dict[str, Any]], fmt: str = "table") -> str:
    """Rows as `table` (aligned text), `markdown` or `csv` (all columns, raw numbers); a
    metric with a logged interval shows it in brackets (`-0.4 pt [-1.1, +0.3]`)."""
    import pandas as pd

    if fmt == "csv":
        return pd.DataFrame(list(rows)).to_csv(index=False)
    # The `evaluate` metrics some row has, after the summary metrics.
    user = [m for m in metric_names(USER_GROUP) if any(row.get(m) is not None for row in rows)]
    # One column per deployment target (`mcu (tflm)`), in the order the rows name them.
    targets = list(dict.fromkeys(k for row in rows for k in row if _TARGET_COLUMN.match(k)))
    columns = [*IDENTITY_COLUMNS, *shown_in("summary"), *user, *targets, *STATUS_COLUMNS]
    # A run without accuracy (outputs that are not class scores, synthetic inputs) shows
    # its fidelity to the float model in those columns instead.
    stand_ins = {m.stands_in_for: m.name for m in all_metrics() if m.stands_in_for}
    if not any(row.get(c) is not None for row in rows for c in stand_ins):
        # (a stand-in the table shows anyway moves to the column it stands in for).
        columns = list(dict.fromkeys(stand_ins.get(c, c) for c in columns))
    cells = [{c: with_interval(row, c, "table") for c in columns} for row in rows]
    frame = pd.DataFrame(cells, columns=columns)
    if fmt == "markdown":
        return frame.to_markdown(index=False)
    if fmt == "table":
        return frame.to_string(index=False)
    raise ValueError(f"unknown format {fmt!r}; expected table, csv or markdown")


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
    records: Sequence[VariantRecord], directory: str | Path, champion: str | None = None,
    objective: Sequence[str] = (),
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
    pareto_plot(records, paths["plot"], objective=objective)
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
