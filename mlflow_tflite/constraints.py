"""The catalogue's gates: every promotion constraint, declared once over a metric.

A gate is declared once, with its config key, metric and comparison. Config validation
(constraint keys), the promotion policy and the search's constraints (Optuna's) read this
module, so they cannot disagree. A gate with its own bounds is one `Gate(...)` in `GATES`;
`min_<metric>` / `max_<metric>` over any catalogue metric (`mlflow_tflite.metrics`) is a
gate without an entry (`gate_for`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from mlflow_tflite.metrics import (
    TARGET_NAME,
    catalogue_metric,
    find_metric,
    format_metric,
    version_text,
)

Comparison = Literal["min", "max"]

# Costs spanning orders of magnitude: a gate's distance is taken relative to its limit,
# so no one constraint dominates the sum Optuna ranks infeasible trials by.
_RELATIVE_UNITS = frozenset({"B", "ms", "MB"})
# A drop against the baseline is a difference of two measured accuracies: rounding must
# not fail a drop that equals the limit.
_BASELINE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class Gate:
    """A promotion constraint on one metric; the search makes it an Optuna constraint.

    Attributes:
        metric: the catalogue metric it reads.
        comparison: `max` (the value may not exceed the limit) or `min`.
        key: the `constraints` key; `<comparison>_<metric>` when not given.
        vs_baseline: the limit is an allowed drop below the baseline and the metric is
            the variant's delta to it (`max_accuracy_drop` over `accuracy_delta`).
        flag: a yes/no requirement (`integer_only: true`) on a 0/1 metric.
        subject: how a failure names the value; the metric name when not given.
        integer: the limit is a whole number (bytes).
        bounds: the limit's pydantic bounds (`{"gt": 0}`).
        description: the key's help text.
    """

    metric: str
    comparison: Comparison
    key: str = ""
    vs_baseline: bool = False
    flag: bool = False
    subject: str = ""
    integer: bool = False
    bounds: Mapping[str, float] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", f"{self.comparison}_{self.metric}")

    def excess(self, value: float, limit: float) -> float:
        """How far `value` is past `limit`: <= 0 passes (Optuna's constraint convention).

        Costs (bytes, ms, MB) are relative to the limit; the policy and the search both
        judge a gate by this one number, so feasibility and promotion agree.
        """
        if self.flag:
            return 0.5 - value
        if self.vs_baseline:
            return -value - limit - _BASELINE_TOLERANCE
        distance = value - limit if self.comparison == "max" else limit - value
        metric = find_metric(self.metric)
        if metric and metric.unit in _RELATIVE_UNITS and limit:
            return distance / abs(limit)
        return distance

    def message(self, metric: str, value: float, limit: float) -> str:
        """Why `value` of `metric` (as logged, maybe delegate-prefixed) fails the gate."""
        if self.flag:
            return f"not {find_metric(self.metric).label}"
        shown = -value if self.vs_baseline else value
        known = find_metric(self.metric)
        unit = known.unit if known else ""
        bound = f"{limit:,.0f}" if unit == "B" else f"{limit:g}"
        if unit == "version":
            bound = version_text(limit)
        sign = ">" if self.comparison == "max" else "<"
        subject = self.subject or metric
        return f"{subject} {format_metric(metric, shown)} {sign} {self.key} {bound}"


GATES = (
    Gate("accuracy_delta", "max", "max_accuracy_drop", vs_baseline=True,
         subject="accuracy drop", bounds={"ge": 0.0, "le": 1.0},
         description="Largest allowed accuracy drop vs. the baseline."),
    Gate("agreement", "min", bounds={"ge": 0.0, "le": 1.0},
         description="Smallest top-1 agreement with the fp32 variant."),
    Gate("output_snr_db", "min", subject="output SNR",
         description="Smallest output SNR against the float model, in dB (fidelity)."),
    Gate("latency_vs_fp32", "max", bounds={"gt": 0.0},
         description="Largest p50 latency as a multiple of the fp32 model's, timed interleaved "
         "with it on the primary delegate (1.0: not slower than fp32)."),
    Gate("latency_p50_ms", "max", bounds={"gt": 0.0}),
    Gate("latency_p90_ms", "max", bounds={"gt": 0.0}),
    Gate("size_bytes", "max", integer=True, bounds={"gt": 0}),
    Gate("gzip_size_bytes", "max", integer=True, bounds={"gt": 0}),
    Gate("peak_memory_mb", "max", bounds={"gt": 0.0},
         description="Largest peak memory over the process baseline, in MB (cold start)."),
    Gate("integer_only", "min", "integer_only", flag=True,
         description="Require integer-only ops (metric 1)."),
    Gate("gpu_compatible", "min", "gpu_compatible", flag=True,
         description="Require GPU-delegate compatibility."),
)
_GATES = {g.key: g for g in GATES}
_GENERIC = re.compile(
    rf"^(?P<comparison>min|max)_(?P<metric>(?:{TARGET_NAME}/)?[a-z0-9_]+)$")


def gate_for(key: str) -> Gate | None:
    """The gate of constraints key `key`: a declared one, else `min_<metric>` /
    `max_<metric>` over a catalogue metric (a target's `max_mcu/arena_bytes` once the
    `targets` section registered it); None when the key is neither."""
    if key in _GATES:
        return _GATES[key]
    match = _GENERIC.match(key)
    if match and catalogue_metric(match["metric"]) is not None:
        return Gate(match["metric"], match["comparison"])  # type: ignore[arg-type]
    return None


@dataclass(frozen=True)
class SetGate:
    """A gate with the limit a constraints block sets and the metric key it reads."""

    gate: Gate
    limit: float
    metric: str

    def excess(self, value: float) -> float:
        return self.gate.excess(value, self.limit)

    def message(self, value: float) -> str:
        return self.gate.message(self.metric, value, self.limit)


def set_gates(values: Mapping[str, object], delegate: str | None = None) -> list[SetGate]:
    """The gates a constraints block sets (key -> limit; flags True), in its order;
    latency metrics read `<delegate>/...` when `delegate` is given."""
    found = []
    for key, limit in values.items():
        gate = gate_for(key)
        if gate is None or limit is None or limit is False:
            continue
        metric = catalogue_metric(gate.metric)  # exact: a target's metrics take no delegate
        prefixed = delegate is not None and metric is not None and metric.per_delegate
        found.append(SetGate(gate, float(limit),
                             f"{delegate}/{gate.metric}" if prefixed else gate.metric))
    return found
