"""The variants of a flow run as a table (CSV, markdown, text) and a Pareto plot."""

from __future__ import annotations

import json
import re
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
from mlflow_tflite.tracking.records import CHAMPION, METRICS, REFUSED, VariantRecord

CHAMPION_KEY = "champion"
# A target's column (`plugins.target.table_column`): `mcu (tflm)`.
_TARGET_COLUMN = re.compile(r"^\S+ \([a-z_]+\)$")
# The summary table (`run`, `compare`): these columns around the catalogue's `summary`
# metrics, the `evaluate` ones and one per deployment target.
IDENTITY_COLUMNS = ("variant", "technique", "quantization")
STATUS_COLUMNS = ("delegate", "verdict")


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
        row.update(_target_cells(record))
        row["delegate"] = record.delegate
        row["status"] = (record.status if record.ok or record.skipped
                         else f"FAILED ({record.failed_step})")
        row["verdict"] = record.verdict_line()
        row["reused"] = record.reused
        row["error"] = record.error or ""
        row["run_id"] = record.run_id or ""
        rows.append(row)
    return rows


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
    """Rows as `table` (aligned text), `markdown` or `csv` (all columns, raw numbers)."""
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


def pareto_costs(objective: Sequence[str] = (), size_metric: str | None = None) -> list[str]:
    """The x axes of the Pareto plot: the objective's cost metrics in its order, then the
    catalogue's Pareto costs of a unit none of those has (latency beside a size objective).
    `size_metric` stands for the catalogue's cost in bytes when the objective has none."""
    (quality,) = pareto_metrics("quality")
    costs = [m for m in objective if m != quality and find_metric(m) is not None
             and find_metric(m).higher_is_better is False]
    units = {find_metric(m).unit for m in costs}
    for metric in pareto_metrics("cost"):
        unit = find_metric(metric).unit
        if unit not in units:
            costs.append(size_metric if size_metric and unit == "B" else metric)
            units.add(unit)
    return costs


# Where a label may go around its point (offset points and alignment), nearest first;
# the placement tries them on growing rings until the label overlaps nothing.
_LABEL_SPOTS = ((1, 1, "left", "bottom"), (1, -1, "left", "top"), (-1, 1, "right", "bottom"),
                (-1, -1, "right", "top"), (0, 1.4, "center", "bottom"),
                (0, -1.4, "center", "top"), (1.4, 0, "left", "center"),
                (-1.4, 0, "right", "center"))


def _overlap(a: Any, b: Any) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(width, 0.0) * max(height, 0.0)


def place_labels(ax: Any, points: Sequence[tuple[float, float, str]]) -> None:
    """Annotate each point with its name where the label overlaps no other label or point
    and stays inside the axes; when no spot is free, the one overlapping least."""
    from matplotlib.transforms import Bbox

    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    marks = [Bbox.from_bounds(px - 5, py - 5, 10, 10)
             for px, py in ax.transData.transform([(x, y) for x, y, _ in points])]
    taken: list[Any] = []
    for x, y, name in points:
        best = None
        for ring in (5, 9, 14, 20, 28, 38):
            for dx, dy, ha, va in _LABEL_SPOTS:
                text = ax.annotate(name, (x, y), textcoords="offset points", ha=ha, va=va,
                                   xytext=(dx * ring, dy * ring), fontsize=8,
                                   arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.5"}
                                   if ring > 9 else None)
                box = text.get_window_extent(renderer).expanded(1.04, 1.15)
                outside = (box.width * box.height
                           - _overlap(box, frame)) * 10
                cost = outside + sum(_overlap(box, other) for other in [*taken, *marks])
                if best is None or cost < best[0]:
                    if best is not None:
                        best[1].remove()
                    best = (cost, text, box)
                else:
                    text.remove()
                if cost == 0:
                    break
            if best[0] == 0:
                break
        taken.append(best[2])


def pareto_plot(records: Sequence[VariantRecord], path: str | Path,
                size_metric: str | None = None, objective: Sequence[str] = ()) -> Path:
    """The catalogue's Pareto quality metric (accuracy) against each cost axis
    (`pareto_costs`: the objective's, then latency; then each deployment target's own,
    `target_axes`: `mcu/arena_bytes`), written as PNG."""
    return save_figure(pareto_figure(records, size_metric, objective), path, layout=False)


def pareto_figure(records: Sequence[VariantRecord], size_metric: str | None = None,
                  objective: Sequence[str] = ()) -> Any:
    """The Pareto plot's figure: the front over the variants no gate refused, refused ones
    as crosses, the champion as a star, every label clear of the others and inside.

    Failed variants and those without the metric are left out.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    (quality,) = pareto_metrics("quality")
    ok = [r for r in records if r.ok and r.metrics.get(quality) is not None]
    costs = pareto_costs(objective, size_metric)
    costs += [m for m in target_axes(ok) if m not in costs]
    fig, axes = plt.subplots(1, len(costs), figsize=(6.5 * len(costs), 5.2), squeeze=False)
    placed = []
    for ax, metric in zip(axes[0], costs, strict=True):
        label, scale = axis(metric)
        shown = [r for r in ok if r.metrics.get(metric) is not None]
        points = [(r.metrics[metric] * scale, r.metrics[quality], r.name) for r in shown]
        judged = [i for i, r in enumerate(shown)
                  if not (r.verdict or "").startswith(f"{REFUSED}:")]
        front = {judged[i] for i in pareto_front([points[i][:2] for i in judged])}
        for i, ((x, y, _), record) in enumerate(zip(points, shown, strict=True)):
            if record.verdict == CHAMPION:
                ax.scatter(x, y, s=240, marker="*", c="gold", edgecolors="black", zorder=4)
            elif i not in judged:
                ax.scatter(x, y, s=40, marker="x", c="tab:gray", zorder=3)
            else:
                ax.scatter(x, y, s=70 if i in front else 35,
                           c="tab:red" if i in front else "tab:gray", zorder=3,
                           edgecolors="black" if i in front else "none")
        line = sorted(points[i][:2] for i in front)
        if len(line) > 1:
            ax.plot(*zip(*line, strict=True), c="tab:red", lw=1.2, zorder=2)
        # Variants differ by factors (int16x8 runs ~100x slower than int8): a log axis
        # keeps the fast, small ones from collapsing into one point; the margins leave
        # room for the labels of the outermost points.
        ax.set_xscale("log")
        if points:
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            span = max(xs) / min(xs) if min(xs) > 0 else 10.0
            pad = max(span, 2.0) ** 0.18
            ax.set_xlim(min(xs) / pad, max(xs) * pad)
            low, high = min(ys), max(ys)
            margin = max(high - low, 0.01) * 0.25
            ax.set_ylim(low - margin, high + margin)
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"{label}, log scale")
        ax.set_ylabel(axis(quality)[0])
        ax.set_title(f"{quality} vs {find_metric(metric).label}")
        ax.grid(alpha=0.3)
        placed.append((ax, points))
    legend = [
        Line2D([], [], marker="*", ls="", mfc="gold", mec="black", ms=14, label="champion"),
        Line2D([], [], marker="o", c="tab:red", mec="black", label="Pareto front (passed)"),
        Line2D([], [], marker="o", ls="", c="tab:gray", label="passed, dominated"),
        Line2D([], [], marker="x", ls="", c="tab:gray", label="refused by a gate"),
    ]
    fig.legend(handles=legend, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    # After the layout: the labels are placed in display coordinates.
    for ax, points in placed:
        place_labels(ax, points)
    return fig


def target_axes(records: Sequence[VariantRecord]) -> list[str]:
    """The target metrics the Pareto plot adds a panel for: each target's kind's `axis`
    (`mcu/arena_bytes`), when some variant has it."""
    from mlflow_tflite.plugins.target import get_kind

    found: dict[str, None] = {}
    for record in records:
        for name, kind in (record.measurement.get("targets") or {}).get("kinds", {}).items():
            metric = get_kind(kind).axis
            # A catalogue entry labels the axis (registered when the params loaded).
            if metric and f"{name}/{metric}" in record.metrics and find_metric(
                    f"{name}/{metric}") is not None:
                found[f"{name}/{metric}"] = None
    return list(found)


def save_figure(fig: Any, path: str | Path, layout: bool = True) -> Path:
    """Write a matplotlib figure as PNG (parent folders created) and close it; `layout`
    False keeps a layout the caller already fixed."""
    import matplotlib.pyplot as plt

    if layout:
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
