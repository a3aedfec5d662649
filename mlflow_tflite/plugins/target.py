"""Deployment target kinds: one module per kind, found by walking `mlflow_tflite.targets`.

Each kind module in `mlflow_tflite.targets` defines `TARGET`, a `TargetKind` holding its
name (the `kind:` of a `targets` entry), its typed settings, the metrics it measures
(declared unprefixed; a target called `mcu` logs them as `mcu/<metric>`) and its
`measure` function. The `targets` section validator, the measure step, the tables and
the card read this registry, so a new kind is one new file. Kind modules import their
runtime (tflite-micro, ssh) inside `measure` only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_tflite._discovery import Registry
from mlflow_tflite.metrics import Metric

if TYPE_CHECKING:
    from mlflow_tflite.section import Section

# The catalogue group of every target's metrics.
TARGET_GROUP = "target"
# What a target that runs the model measures, declared once for every kind that does.
OUTPUT_SNR = Metric(name="output_snr_db", higher_is_better=True, unit="dB",
                    label="output SNR vs LiteRT", card="output SNR vs LiteRT here (dB)")
LATENCY_P50 = Metric(name="latency_p50_ms", higher_is_better=False, unit="ms",
                     label="p50 latency", card="p50 latency (ms)", objective=True)
LATENCY_P90 = Metric(name="latency_p90_ms", higher_is_better=False, unit="ms",
                     label="p90 latency", card="p90 latency (ms)", objective=True)


@dataclass(frozen=True)
class TargetResult:
    """What one target measured of one variant.

    Attributes:
        metrics: the kind's metric names (unprefixed) and their values.
        tags: the kind's tag names (unprefixed; `compatible`, `min_runtime`) and values.
        error: one line when the target could not measure (the variant stays measured).
    """

    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class TargetKind:
    """One kind of deployment target.

    Attributes:
        name: the `kind:` value of a `targets` entry.
        summary: one line for docs and listings.
        config: the entry's typed settings (a `Section` with a `kind` literal).
        metrics: what it measures, unprefixed; registered as `<target>/<name>`.
        measure: `(job) -> TargetResult`, job a `mlflow_tflite.targets.TargetJob`.
        columns: the metric or tag names (unprefixed) the variants table shows.
        gates: `(cfg) -> {metric: (comparison, limit)}`, the limits the entry itself sets
            (`max_min_runtime`), applied to every promotion as `<comparison>_<target>/<metric>`.
        cell: `(values) -> str`, the target's cell in the variants table, from its
            unprefixed metrics and tags (`error` when it could not measure).
        axis: the metric (unprefixed) the Pareto plot puts against accuracy; None: none.
    """

    name: str
    summary: str
    config: type[Section]
    metrics: tuple[Metric, ...]
    measure: Callable[[Any], TargetResult]
    columns: tuple[str, ...] = ()
    gates: Callable[[Any], dict[str, tuple[str, float]]] = lambda cfg: {}
    cell: Callable[[Mapping[str, Any]], str] = lambda values: ""
    axis: str | None = None


def table_column(target: str, kind: str) -> str:
    """The variants table's column of a target: `mcu (tflm)`."""
    return f"{target} ({kind})"


def target_cell(kind: TargetKind, values: Mapping[str, Any]) -> str:
    """A target's table cell: what it measured, or `error` (the tag says why)."""
    return "error" if values.get("error") else kind.cell(values)


def target_metric(target: str, metric: Metric) -> Metric:
    """`metric` as target `target` logs it: `<target>/<name>`, labelled with the target."""
    # Shown in the target's own table column and the card's quality table, never in
    # another table or a default objective.
    return dataclasses.replace(metric, name=f"{target}/{metric.name}",
                               label=f"{target} {metric.label}",
                               card=f"{target}: {metric.card or metric.label}",
                               card_section="quality", source=None, tables=(), pareto=None,
                               stands_in_for=None, default_objective=False,
                               card_summary=None, group=TARGET_GROUP, per_delegate=False)


_KINDS = Registry("mlflow_tflite.targets", "TARGET", TargetKind, order=lambda k: k.name,
                  noun="target kind", error=ValueError)

# Every target kind, by name; one by name (ValueError listing the known ones).
all_kinds = _KINDS.all
kind_names = _KINDS.names
get_kind = _KINDS.get
