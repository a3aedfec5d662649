"""The catalogue of metrics: every per-variant metric, declared once.

A metric is declared once, with its direction, unit, label and precision (its gates are in
`mlflow_tflite.constraints`). Config validation (objective names and constraint keys), the
promotion policy, the search's constraints, the tables, the model card and the Pareto plot
all read this module, so they cannot disagree.

    from mlflow_tflite.metrics import Metric, register_metric

    register_metric(Metric(name="mae", higher_is_better=False, label="mean abs error",
                           objective=True, group="user"))
    # now `promote.objective: [mae]` and `promote.constraints.max_mae: 0.1` validate,
    # the policy gates on `mae`, the search turns the gate into an Optuna constraint.

A built-in metric is one `Metric(...)` in `_BUILT_IN` (`source`: the `Measurement` value;
`tables`, `card`: where it is shown). Register run-time metrics before the params naming
them are validated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

Style = Literal["text", "table", "card"]
Table = Literal["summary", "headline", "trials"]
CardSection = Literal["quality", "latency", "compatibility"]

# Decimals of a value with a unit in the summary table (bytes show as KiB).
_TABLE_DECIMALS = {"ms": 3, "dB": 1, "MB": 2}
# A metric name; a deployment target's metrics carry the target's name as a prefix
# (`mcu/arena_bytes`, registered from the `targets` section).
TARGET_NAME = r"[a-z0-9][a-z0-9_\-]*"
_NAME = re.compile(rf"^(?:{TARGET_NAME}/)?[a-z][a-z0-9_]*$")
# The tag beside a metric that says why it has its value (`app/min_runtime_reason`); a
# failed gate on the metric quotes it.
REASON_TAG_SUFFIX = "_reason"
# Identical float32 outputs still differ by rounding at most: report that ceiling (about
# 138.5 dB, 20*log10(1/eps)) rather than an infinity MLflow and JSON cannot hold.
SNR_CEILING_DB = float(-20 * np.log10(np.finfo(np.float32).eps))


@dataclass(frozen=True, kw_only=True)
class Metric:
    """One per-variant metric as MLflow logs it: where its value comes from and where it
    is shown.

    Attributes:
        name: the MLflow metric key (latency ones also per delegate, `<delegate>/<name>`).
        higher_is_better: the direction; None when neither is better (op_count).
        unit: `B`, `ms`, `MB`, `dB`, `version` (a release `major.minor.patch` held as
            the number `version_number` makes of it) or "" (a ratio or a count).
        label: how tables, plots and messages name it ("p50 latency").
        source: the `measure.Measurement` attribute path `metrics()` reads it from
            (`"inspection.sparsity"`; `"primary.p50_ms"`, per delegate each delegate's);
            None: computed elsewhere (`measure.layers`, a user's `evaluate` function).
        tables: the tables that show it: `summary` (`run`, `compare`, `variants.md`),
            `headline` (`metrics.json`), `trials` (the search's tables).
        stands_in_for: the `summary` column it replaces when no variant has that one.
        pareto: `cost` (an x axis of the Pareto plots and card fronts) or `quality` (y).
        default_objective: in `promote.objective` / `search.objective` by default.
        card: its row or line on the model card; None keeps it off the card.
        card_section: `quality` (the table), `latency` (per-delegate metrics are its
            table's columns, the others a line with the unit) or `compatibility` (yes/no).
        card_summary: its fragment of the version description (`", accuracy {}"`).
        group: `core` (every variant logs it), `fidelity` (against the float model),
            `extra`, `layers` (with per-layer analysis), `user` (registered at run time)
            or `target` (a deployment target's, registered from the `targets` section).
        objective: may rank variants (`promote.objective`, the search's objectives).
        per_delegate: measured per delegate; takes a `<delegate>/` prefix.
        decimals: decimals on the card and, without a unit, in tables.
        signed: tables show the sign (a delta).
        points: a share of examples that tables show in percentage points (`-0.4 pt`).
        table_interval: tables show its 95% interval when logged (`intervals`); False
            where another column shows the same interval.
    """

    name: str
    higher_is_better: bool | None
    unit: str = ""
    label: str = ""
    source: str | None = None
    tables: tuple[Table, ...] = ()
    stands_in_for: str | None = None
    pareto: Literal["cost", "quality"] | None = None
    default_objective: bool = False
    card: str | None = None
    card_section: CardSection = "quality"
    card_summary: str | None = None
    group: str = "core"
    objective: bool = False
    per_delegate: bool = False
    decimals: int = 4
    signed: bool = False
    points: bool = False
    table_interval: bool = True

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"metric name {self.name!r}: use lower-case letters, digits, '_'")
        if self.objective and self.higher_is_better is None:
            raise ValueError(f"metric {self.name!r}: an objective needs higher_is_better")
        if not self.label:
            object.__setattr__(self, "label", self.name)


_SUMMARY: tuple[Table, ...] = ("summary", "headline", "trials")
_BUILT_IN = (
    Metric(name="size_bytes", higher_is_better=False, unit="B", label="size",
           source="size_bytes", tables=_SUMMARY, pareto="cost",
           card="size (bytes)", card_summary="{} bytes", objective=True),
    # The default objective: size after gzip (what a download costs), accuracy and speed
    # being constraints (max_accuracy_drop, max_latency_vs_fp32: 1.0); a second objective
    # would spend a search's trials on the accurate end of a Pareto front.
    Metric(name="gzip_size_bytes", higher_is_better=False, unit="B", label="gzip size",
           source="gzip_size_bytes", tables=_SUMMARY, default_objective=True,
           card="gzip size (bytes)", card_summary=" ({} gzipped)", objective=True),
    # measure.size.compression_ratio: fp32 .tflite bytes over this variant's, raw over raw.
    Metric(name="compression_ratio", higher_is_better=True, label="compression ratio",
           source="compression_ratio", card="compression ratio (fp32 .tflite bytes / these bytes)"),
    Metric(name="accuracy", higher_is_better=True, label="test accuracy",
           source="accuracy", tables=_SUMMARY, pareto="quality",
           card="test accuracy", card_summary=", accuracy {}", objective=True,
           table_interval=False),  # accuracy_delta's column shows the same interval
    Metric(name="accuracy_delta", higher_is_better=True, label="accuracy delta",
           source="accuracy_delta", tables=_SUMMARY,
           card="accuracy delta vs Keras baseline", card_summary=" (delta {})", signed=True,
           points=True),
    Metric(name="agreement", higher_is_better=True, label="top-1 agreement",
           source="agreement", tables=("headline",),
           card="top-1 agreement with fp32", card_summary=", agreement {}"),
    # Paired-bootstrap 95% intervals over the test images (measure.uncertainty) and
    # McNemar's exact p of the accuracy change: which differences are more than noise.
    # (`accuracy`'s is the change's, placed at the accuracy: they differ by a constant.)
    Metric(name="accuracy_ci_low", higher_is_better=True, label="test accuracy, 95% low",
           source="accuracy_ci_low", group="uncertainty"),
    Metric(name="accuracy_ci_high", higher_is_better=True, label="test accuracy, 95% high",
           source="accuracy_ci_high", group="uncertainty"),
    Metric(name="accuracy_delta_ci_low", higher_is_better=True,
           label="accuracy delta, 95% low", source="accuracy_delta_ci_low", group="uncertainty",
           signed=True),
    Metric(name="accuracy_delta_ci_high", higher_is_better=True,
           label="accuracy delta, 95% high", source="accuracy_delta_ci_high",
           group="uncertainty", signed=True),
    Metric(name="agreement_ci_low", higher_is_better=True, label="top-1 agreement, 95% low",
           source="agreement_ci_low", group="uncertainty"),
    Metric(name="agreement_ci_high", higher_is_better=True,
           label="top-1 agreement, 95% high", source="agreement_ci_high", group="uncertainty"),
    Metric(name="accuracy_mcnemar_p", higher_is_better=None,
           label="McNemar p of the accuracy change", source="accuracy_mcnemar_p",
           group="uncertainty"),
    Metric(name="latency_p50_ms", higher_is_better=False, unit="ms", label="p50 latency",
           source="primary.p50_ms", tables=_SUMMARY, pareto="cost",
           card="p50 ms", card_section="latency", card_summary=", p50 {} ms",
           objective=True, per_delegate=True),
    Metric(name="latency_p90_ms", higher_is_better=False, unit="ms", label="p90 latency",
           source="primary.p90_ms", card="p90 ms", card_section="latency",
           objective=True, per_delegate=True),
    Metric(name="latency_p99_ms", higher_is_better=False, unit="ms", label="p99 latency",
           source="primary.p99_ms", card="p99 ms", card_section="latency", per_delegate=True),
    Metric(name="latency_vs_fp32", higher_is_better=False, label="p50 latency vs fp32",
           source="latency_vs_fp32", tables=("summary",),
           card="p50 latency / fp32's (primary delegate)", decimals=2),
    # The block bootstrap's 95% interval of the ratio, fp32 and the variant timed
    # interleaved (measure.interleaved): which speed differences are more than noise.
    Metric(name="latency_vs_fp32_ci_low", higher_is_better=False,
           label="p50 latency vs fp32, 95% low", source="latency_vs_fp32_ci_low",
           group="uncertainty", decimals=2),
    Metric(name="latency_vs_fp32_ci_high", higher_is_better=False,
           label="p50 latency vs fp32, 95% high", source="latency_vs_fp32_ci_high",
           group="uncertainty", decimals=2),
    Metric(name="cold_start_ms", higher_is_better=False, unit="ms", label="cold start",
           source="cold_start.cold_start_ms", card="cold start", card_section="latency",
           decimals=2),
    Metric(name="peak_memory_mb", higher_is_better=False, unit="MB",
           label="peak memory over baseline", source="cold_start.peak_memory_mb",
           card="peak memory over baseline", card_section="latency", decimals=2),
    Metric(name="sparsity", higher_is_better=None, label="weight sparsity",
           source="inspection.sparsity", card="weight sparsity"),
    Metric(name="output_snr_db", higher_is_better=True, unit="dB", label="output SNR",
           source="output_snr_db", tables=("summary",), stands_in_for="accuracy",
           card="fidelity: output SNR vs float (dB)", group="fidelity"),
    Metric(name="output_cosine", higher_is_better=True, label="output cosine",
           source="output_cosine", stands_in_for="accuracy_delta", group="fidelity", decimals=5),
    Metric(name="max_abs_diff", higher_is_better=False, label="max abs output difference",
           source="max_abs_diff", card="fidelity: max abs output difference vs fp32",
           group="fidelity"),
    Metric(name="min_layer_snr_db", higher_is_better=True, unit="dB",
           label="lowest layer SNR", card="fidelity: lowest layer SNR (dB)",
           group="layers"),  # measure.layers.summary_metrics computes it
    Metric(name="latency_mean_ms", higher_is_better=False, unit="ms", label="mean latency",
           source="primary.mean_ms", group="extra", per_delegate=True),
    Metric(name="latency_std_ms", higher_is_better=False, unit="ms", label="latency std",
           source="primary.std_ms", group="extra", per_delegate=True),
    Metric(name="unique_weight_values", higher_is_better=None, label="unique weight values",
           source="inspection.unique_weight_values", group="extra"),
    Metric(name="op_count", higher_is_better=None, label="op count",
           source="inspection.op_count", group="extra"),
    Metric(name="integer_only", higher_is_better=True, label="integer-only",
           source="inspection.integer_only", card="integer-only",
           card_section="compatibility", group="extra"),
    Metric(name="gpu_compatible", higher_is_better=True, label="GPU-compatible",
           source="inspection.gpu_compatible", card="GPU delegate compatible",
           card_section="compatibility", group="extra"),
)
_CATALOGUE: dict[str, Metric] = {m.name: m for m in _BUILT_IN}


def register_metric(metric: Metric) -> Metric:
    """Add a metric to the catalogue (a user `evaluate` hook's), idempotently.

    Raises:
        ValueError: a different metric of that name is already in the catalogue.
    """
    known = _CATALOGUE.get(metric.name)
    if known is not None and known != metric:
        raise ValueError(f"metric {metric.name!r} is already defined as {known}")
    _CATALOGUE[metric.name] = metric
    return metric


def catalogue_metric(name: str) -> Metric | None:
    """The metric registered under exactly `name` (no delegate or target prefix dropped)."""
    return _CATALOGUE.get(name)


def find_metric(name: str) -> Metric | None:
    """The catalogue entry of `name` (a target's `mcu/arena_bytes` as registered), else of
    `name` without a `<delegate>/` prefix; None if unknown."""
    return _CATALOGUE.get(name) or _CATALOGUE.get(name.rpartition("/")[2])


def version_number(version: str) -> float:
    """`2.10` or `2.10.1` as one number that orders releases (2010001.0), for a gate.

    Raises:
        ValueError: not two or three dot-separated whole numbers.
    """
    parts = version.strip().split(".")
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{version!r} is not a version like 2.10 or 2.10.1")
    major, minor, patch = (int(p) for p in [*parts, "0"][:3])
    if minor >= 1000 or patch >= 1000:
        raise ValueError(f"{version!r}: minor and patch must be below 1000")
    return float(major * 1_000_000 + minor * 1_000 + patch)


def version_text(number: float) -> str:
    """The release `version_number` made `number` of (`2.10.1`)."""
    whole = int(round(number))
    return f"{whole // 1_000_000}.{whole // 1_000 % 1_000}.{whole % 1_000}"


def metric_names(*groups: str) -> tuple[str, ...]:
    """Names of the catalogue's metrics in `groups` (all when none), in catalogue order."""
    return tuple(m.name for m in _CATALOGUE.values() if not groups or m.group in groups)


def all_metrics() -> tuple[Metric, ...]:
    """Every catalogue metric, built in and registered, in catalogue order."""
    return tuple(_CATALOGUE.values())


def shown_in(table: Table) -> tuple[str, ...]:
    """The metric columns of `table` (`summary`, `headline`, `trials`), in catalogue order."""
    return tuple(m.name for m in _CATALOGUE.values() if table in m.tables)


def pareto_metrics(role: Literal["cost", "quality"]) -> tuple[str, ...]:
    """The Pareto plots' and the card's cost axes (`cost`) or quality axis (`quality`)."""
    return tuple(m.name for m in _CATALOGUE.values() if m.pareto == role)


def default_objectives() -> tuple[str, ...]:
    """The objectives `promote.objective` and `search.objective` default to."""
    return tuple(m.name for m in _CATALOGUE.values() if m.default_objective)


def objective_names() -> tuple[str, ...]:
    """The metrics that may rank variants."""
    return tuple(m.name for m in _CATALOGUE.values() if m.objective)


# A figure measured on the selection split (the validation split): decisions judge by it,
# the reports show the test split's figure under the plain name (`selection/accuracy`).
SELECTION_PREFIX = "selection/"


def decision_value(metrics: Mapping[str, float], name: str) -> float | None:
    """The value of `name` a decision judges: its selection-split figure when `metrics`
    has one, else the one logged under `name` (a metric with no selection figure, or a
    run from before there was one)."""
    value = metrics.get(f"{SELECTION_PREFIX}{name}")
    return metrics.get(name) if value is None else value


CI_LOW, CI_HIGH = "_ci_low", "_ci_high"


def gated_value(metrics: Mapping[str, float], name: str, gate_on: str = "point"
                ) -> float | None:
    """The value of `name` a gate judges (`decision_value`): `point`, the estimate;
    `conservative`, the worse end of its 95% interval (the whole interval must pass);
    `lenient`, the better end (it fails only when the whole interval does). A metric
    without an interval is judged by its estimate."""
    if gate_on == "point" or name not in _CATALOGUE or _CATALOGUE[name].higher_is_better is None:
        return decision_value(metrics, name)
    worse, better = (CI_LOW, CI_HIGH) if _CATALOGUE[name].higher_is_better else (CI_HIGH, CI_LOW)
    bound = decision_value(metrics, f"{name}{worse if gate_on == 'conservative' else better}")
    return decision_value(metrics, name) if bound is None else bound


def higher_is_better(name: str) -> bool:
    """True when larger values of objective `name` (`<delegate>/` allowed) are better.

    Raises:
        KeyError: `name` is not an objective metric.
    """
    metric = find_metric(name)
    if metric is None or metric.higher_is_better is None:
        raise KeyError(f"{name!r} is not a metric with a direction")
    return metric.higher_is_better


def format_metric(name: str, value: float | None, style: Style = "text") -> str:
    """A metric value as people read it.

    `text` (messages): `12,345 B`, `1.23 ms`, `0.9812`; `table`: KiB, fixed decimals;
    `card`: whole numbers with separators, else the metric's decimals. A missing value
    is `n/a` in text and `-` elsewhere; a table cell that is not a number is shown as is.
    """
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return "n/a" if style == "text" else "-"
    metric = find_metric(name)
    if style == "table" and (metric is None or not isinstance(value, int | float)):
        return str(value)
    unit = metric.unit if metric else ""
    decimals = metric.decimals if metric else 4
    if unit == "version":
        return version_text(value)
    if unit == "dB" and value >= SNR_CEILING_DB:  # float32-equal outputs: the ceiling
        return "identical"
    if style == "card":
        if float(value).is_integer() and abs(value) >= 1:
            return f"{int(value):,}"
        return f"{value:.{decimals}f}"
    if style == "table":
        if metric.points:
            return f"{100 * value:{'+' if metric.signed else ''}.1f} pt"
        if unit == "B":
            return f"{value / 1024:,.1f} KiB"
        if unit:
            return f"{value:.{_TABLE_DECIMALS.get(unit, decimals)}f} {unit}"
        return f"{value:{'+' if metric.signed else ''}.{decimals}f}"
    if unit == "B":
        return f"{value:,.0f} B"
    return f"{value:.3g} {unit}" if unit else f"{value:.4g}"


def axis(name: str) -> tuple[str, float]:
    """A plot axis of metric `name`: its label with the unit, and the scale to apply."""
    metric = find_metric(name)
    if metric is None:
        raise KeyError(f"{name!r} is not a catalogue metric")
    if metric.unit == "B":
        return f"{metric.label} (KiB)", 1 / 1024
    return (f"{metric.label} ({metric.unit})" if metric.unit else metric.label), 1.0
