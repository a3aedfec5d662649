"""The Pareto plot of a flow run's (or a search's) variants: quality against each cost,
the front, the champion, 95% intervals as error bars, labels that never overlap."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlflow_tflite.intervals import interval_of
from mlflow_tflite.metrics import axis, find_metric, pareto_metrics
from mlflow_tflite.tracking.records import CHAMPION, REFUSED, VariantRecord


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


def place_labels(ax: Any, points: Sequence[tuple[float, float, str]],
                 bars: Sequence[tuple[float, float, float, float]] = ()) -> None:
    """Annotate each point with its name where the label overlaps no other label or point
    and stays inside the axes; when no spot is free, the one overlapping least. `bars`
    (error bars, x0, y0, x1, y1 in data coordinates) are avoided too, though a label
    may cross one rather than another label."""
    from matplotlib.transforms import Bbox

    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    marks = [Bbox.from_bounds(px - 5, py - 5, 10, 10)
             for px, py in ax.transData.transform([(x, y) for x, y, _ in points])]
    lines = [Bbox(ax.transData.transform([(x0, y0), (x1, y1)])).expanded(1.0, 1.0).padded(2)
             for x0, y0, x1, y1 in bars]
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
                cost = (outside + sum(_overlap(box, other) for other in [*taken, *marks])
                        + 0.1 * sum(_overlap(box, line) for line in lines))
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


def _error_bars(ax: Any, shown: Sequence[VariantRecord], metric: str, quality: str,
                scale: float) -> list[tuple[float, float, float, float]]:
    """Draw each variant's 95% intervals on the panel's axes (`metric` on x, scaled;
    `quality` on y) where they are logged; returns the bars (x0, y0, x1, y1)."""
    drawn = []
    for record in shown:
        x, y = record.metrics[metric] * scale, record.metrics[quality]
        across, up = interval_of(record.metrics, metric), interval_of(record.metrics, quality)
        if across is not None:
            low, high = across[0] * scale, across[1] * scale
            ax.errorbar(x, y, xerr=[[max(x - low, 0.0)], [max(high - x, 0.0)]], fmt="none",
                        ecolor="0.55", elinewidth=0.8, capsize=2, zorder=1)
            drawn.append((min(low, x), y, max(high, x), y))
        if up is not None:
            ax.errorbar(x, y, yerr=[[max(y - up[0], 0.0)], [max(up[1] - y, 0.0)]],
                        fmt="none", ecolor="0.55", elinewidth=0.8, capsize=2, zorder=1)
            drawn.append((x, min(up[0], y), x, max(up[1], y)))
    return drawn


def pareto_plot(records: Sequence[VariantRecord], path: str | Path,
                size_metric: str | None = None, objective: Sequence[str] = ()) -> Path:
    """The catalogue's Pareto quality metric (accuracy) against each cost axis
    (`pareto_costs`: the objective's, then latency; then each deployment target's own,
    `target_axes`: `mcu/arena_bytes`), written as PNG."""
    return save_figure(pareto_figure(records, size_metric, objective), path, layout=False)


def pareto_figure(records: Sequence[VariantRecord], size_metric: str | None = None,
                  objective: Sequence[str] = ()) -> Any:
    """The Pareto plot's figure: the front over the variants no gate refused, refused ones
    as crosses, the champion as a star, 95% intervals as error bars where logged
    (`intervals.interval_of`), every label clear of the others and inside.

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
        bars = _error_bars(ax, shown, metric, quality, scale)
        line = sorted(points[i][:2] for i in front)
        if len(line) > 1:
            ax.plot(*zip(*line, strict=True), c="tab:red", lw=1.2, zorder=2)
        # Variants differ by factors (int16x8 runs ~100x slower than int8): a log axis
        # keeps the fast, small ones from collapsing into one point; the margins leave
        # room for the labels of the outermost points.
        ax.set_xscale("log")
        if points:
            xs = [p[0] for p in points] + [v for b in bars for v in (b[0], b[2])]
            ys = [p[1] for p in points] + [v for b in bars for v in (b[1], b[3])]
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
        placed.append((ax, points, bars))
    legend = [
        Line2D([], [], marker="*", ls="", mfc="gold", mec="black", ms=14, label="champion"),
        Line2D([], [], marker="o", c="tab:red", mec="black", label="Pareto front (passed)"),
        Line2D([], [], marker="o", ls="", c="tab:gray", label="passed, dominated"),
        Line2D([], [], marker="x", ls="", c="tab:gray", label="refused by a gate"),
    ]
    if any(bars for _, _, bars in placed):
        legend.append(Line2D([], [], c="0.55", lw=0.8, label="95% interval"))
    fig.legend(handles=legend, loc="lower center", ncol=len(legend), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    # After the layout: the labels are placed in display coordinates.
    for ax, points, bars in placed:
        place_labels(ax, points, bars)
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
