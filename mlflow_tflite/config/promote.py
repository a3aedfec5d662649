"""The `promote` section: which variant the registry promotes (owned by the registry module).

A policy is a list of targets. Without `targets`, the top-level `constraints` and
`objective` form one target whose aliases are `champion` and `challenger`; with
`targets`, each named target (`cpu`, `gpu`, ...) has its own constraints, objective and
aliases (`champion-cpu`, `challenger-cpu` unless set), falling back to the top-level
blocks it does not set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, create_model, field_validator, model_validator

from mlflow_tflite.constraints import GATES, Gate, SetGate, gate_for, set_gates
from mlflow_tflite.metrics import TARGET_NAME, default_objectives, find_metric, objective_names
from mlflow_tflite.section import Section

_DELEGATE = r"[A-Za-z0-9_.\-]+"
_OBJECTIVE = re.compile(rf"^(?:(?P<delegate>{_DELEGATE})/)?(?P<metric>[a-z0-9_]+)$")
_ALIAS = re.compile(r"^[\w\-]+$")
# A constraints key on a target's metric (`max_mcu/arena_bytes`).
_TARGET_GATE = re.compile(rf"^(?:min|max)_(?P<metric>{TARGET_NAME}/[a-z0-9_]+)$")
_TARGET = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
DEFAULT_TARGET = "default"
# The objective `run` promotes by and `search` searches and promotes by, unless set: the
# catalogue's `default_objective` metrics (why gzip size: see metrics.py).
DEFAULT_OBJECTIVE = default_objectives()


def _check_objective_name(name: str) -> str:
    target_metric = find_metric(name)
    if target_metric is not None and target_metric.name == name and target_metric.objective:
        return name  # a target's registered `mcu/arena_bytes`
    match = _OBJECTIVE.match(name)
    metric = find_metric(match["metric"]) if match else None
    if metric is None or not metric.objective:
        raise ValueError(
            f"unknown objective {name!r}; expected one of {', '.join(objective_names())}, "
            "latency optionally per delegate (xnnpack/latency_p50_ms)"
        )
    if match["delegate"] and not metric.per_delegate:
        raise ValueError(f"objective {name!r}: only latency takes a delegate prefix")
    return name


def _check_objective(names: list[str]) -> list[str]:
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"objective lists {duplicates[0]!r} twice")
    return names


ObjectiveName = Annotated[str, AfterValidator(_check_objective_name)]


def _check_alias(alias: str | None) -> str | None:
    if alias is None:
        return alias
    if not _ALIAS.match(alias):
        raise ValueError(f"alias {alias!r}: use letters, digits, '_' and '-' only")
    if alias.lower() == "latest" or re.match(r"^[vV]\d+$", alias):
        raise ValueError(f"alias {alias!r} is reserved by MLflow")
    return alias


GateOn = Literal["point", "conservative", "lenient"]


class _Constraints(Section):
    """Gates a variant must pass to be promoted; all optional.

    One key per gate of `mlflow_tflite.constraints.GATES`, and `min_<metric>` /
    `max_<metric>` over any catalogue metric. `max_accuracy_drop` limits the variant's
    accuracy minus the Keras baseline's, so a drop is a negative delta. Latency limits
    apply to `<latency_delegate>/latency_p50_ms` (or p90), or to the unprefixed metrics
    (the primary delegate) when `latency_delegate` is unset.
    """

    latency_delegate: str | None = Field(
        None, description="Delegate whose latency the limits apply to (e.g. xnnpack)."
    )
    gate_on: GateOn | dict[str, GateOn] = Field(
        "point", description="What a gate judges where its metric has a 95% interval "
        "(`<metric>_ci_low/high`): point (the estimate), conservative (the whole interval "
        "must pass), lenient (passes unless the whole interval fails); one for every gate, "
        "or per constraint key ({max_accuracy_drop: conservative}; a gate not named: point).",
    )
    metric_gates: dict[str, float] = Field(
        default_factory=dict,
        description="min_<metric> / max_<metric> limits without a key of their own "
        "(gathered from such keys).",
    )

    @model_validator(mode="before")
    @classmethod
    def _gather_metric_gates(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        generic = {k: v for k, v in data.items()
                   if k not in cls.model_fields and (gate_for(k) or _TARGET_GATE.match(str(k)))}
        if not generic:
            return data
        rest = {k: v for k, v in data.items() if k not in generic}
        return {**rest, "metric_gates": {**rest.get("metric_gates", {}), **generic}}

    @field_validator("metric_gates")
    @classmethod
    def _known_gates(cls, value: dict[str, float]) -> dict[str, float]:
        for key in value:
            target = _TARGET_GATE.match(key)
            if target and gate_for(key) is None:
                raise ValueError(f"{key!r}: no target produces {target['metric']} "
                                 "(see the targets section)")
            if key in cls.model_fields or gate_for(key) is None:
                raise ValueError(f"{key!r} is not min_<metric> or max_<metric> of a metric")
        return value

    @field_validator("latency_delegate")
    @classmethod
    def _delegate_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(_DELEGATE, value):
            raise ValueError(f"latency_delegate {value!r}: expected a delegate name like xnnpack")
        return value

    @model_validator(mode="after")
    def _delegate_needs_limit(self) -> _Constraints:
        if self.latency_delegate and not any(
            find_metric(g.gate.metric).per_delegate for g in self.gates()
        ):
            keys = [g.key for g in GATES if find_metric(g.metric).per_delegate]
            raise ValueError(f"latency_delegate needs {' or '.join(keys)}")
        return self

    @model_validator(mode="after")
    def _gate_on_names_set_gates(self) -> _Constraints:
        if isinstance(self.gate_on, dict):
            keys = [g.gate.key for g in self.gates()]
            for key in self.gate_on:
                if key not in keys:
                    raise ValueError(f"gate_on names {key!r}, which this constraints block "
                                     f"does not set; expected one of {', '.join(keys) or 'none'}")
        return self

    def judged_on(self, gate: SetGate) -> GateOn:
        """What `gate` judges: `gate_on`, or its entry when `gate_on` is per key."""
        if isinstance(self.gate_on, str):
            return self.gate_on
        return self.gate_on.get(gate.gate.key, "point")

    def gates(self) -> list[SetGate]:
        """The gates this block sets, in its order, then the `min_`/`max_` ones."""
        limits = {g.key: getattr(self, g.key) for g in GATES}
        return set_gates({**limits, **self.metric_gates}, self.latency_delegate)


def _gate_field(gate: Gate) -> tuple[Any, Any]:
    if gate.flag:
        return bool, Field(False, description=gate.description or None)
    kind = int if gate.integer else float
    return kind | None, Field(None, description=gate.description or None, **gate.bounds)


ConstraintsConfig = create_model(
    "ConstraintsConfig",
    __base__=_Constraints,
    __doc__=_Constraints.__doc__,
    __module__=__name__,
    **{gate.key: _gate_field(gate) for gate in GATES},
)


class TargetConfig(Section):
    """One deployment target: its own gates, ranking and aliases."""

    constraints: ConstraintsConfig | None = Field(
        None, description="Replaces the top-level constraints for this target."
    )
    objective: list[ObjectiveName] | None = Field(
        None, min_length=1, description="Replaces the top-level objective for this target."
    )
    alias: str | None = Field(None, description="Champion alias; default champion-<target>.")
    challenger_alias: str | None = Field(
        None, description="Challenger alias; default challenger-<target>."
    )

    @field_validator("objective")
    @classmethod
    def _objective(cls, value: list[str] | None) -> list[str] | None:
        return value if value is None else _check_objective(value)

    @field_validator("alias", "challenger_alias")
    @classmethod
    def _aliases(cls, value: str | None) -> str | None:
        return _check_alias(value)


@dataclass(frozen=True)
class Target:
    """A resolved target: what the registry module evaluates."""

    name: str
    constraints: ConstraintsConfig
    objective: tuple[str, ...]
    alias: str
    challenger_alias: str
    tie_tolerance: float


class PromoteConfig(Section):
    """Promotion policy: constraints, an objective list (ties go to the next), targets."""

    enabled: bool = True
    objective: list[ObjectiveName] = Field(
        list(DEFAULT_OBJECTIVE),
        min_length=1,
        description="Ranking, most important first: size_bytes, gzip_size_bytes, "
        "latency_p50_ms, latency_p90_ms (optionally <delegate>/...), accuracy.",
    )
    tie_tolerance: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Relative difference under which two values tie (0.02 = within 2%).",
    )
    constraints: ConstraintsConfig = ConstraintsConfig(max_accuracy_drop=0.02,
                                                       max_latency_vs_fp32=1.0)
    targets: dict[str, TargetConfig] = Field(
        default_factory=dict, description="Named targets; empty means one target, `champion`."
    )
    allow_chance_baseline: bool = Field(
        False, description="Promote even when the baseline's test accuracy is at chance level."
    )
    chance_margin: float = Field(
        0.05, ge=0.0, lt=1.0,
        description="A baseline within this of chance accuracy counts as chance level.",
    )
    ready_timeout_s: float = Field(
        300.0, gt=0.0, description="How long to wait for a new model version to be READY."
    )
    lock_timeout_s: float = Field(
        120.0, gt=0.0, description="How long to wait for another promotion of the same model."
    )

    @field_validator("objective")
    @classmethod
    def _objective(cls, value: list[str]) -> list[str]:
        return _check_objective(value)

    @field_validator("targets")
    @classmethod
    def _target_names(cls, value: dict[str, TargetConfig]) -> dict[str, TargetConfig]:
        for name in value:
            if not _TARGET.match(name):
                raise ValueError(
                    f"target name {name!r}: use lower-case letters, digits, '_' and '-'"
                )
        return value

    @model_validator(mode="after")
    def _distinct_aliases(self) -> PromoteConfig:
        seen: dict[str, str] = {}
        for target in self.resolved_targets():
            for alias in (target.alias, target.challenger_alias):
                if alias in seen:
                    raise ValueError(
                        f"alias {alias!r} is used by target {seen[alias]!r} and "
                        f"target {target.name!r}"
                    )
                seen[alias] = target.name
        return self

    def resolved_targets(self) -> list[Target]:
        """Every target with inherited blocks and default aliases filled in."""
        if not self.targets:
            return [
                Target(
                    DEFAULT_TARGET,
                    self.constraints,
                    tuple(self.objective),
                    "champion",
                    "challenger",
                    self.tie_tolerance,
                )
            ]
        return [
            Target(
                name,
                config.constraints or self.constraints,
                tuple(config.objective or self.objective),
                config.alias or f"champion-{name}",
                config.challenger_alias or f"challenger-{name}",
                self.tie_tolerance,
            )
            for name, config in self.targets.items()
        ]

    def target(self, name: str | None) -> Target:
        """The target called `name` (None: the only target)."""
        targets = self.resolved_targets()
        if name is None:
            if len(targets) > 1:
                raise KeyError(f"several targets ({', '.join(t.name for t in targets)}); name one")
            return targets[0]
        for target in targets:
            if target.name == name:
                return target
        raise KeyError(f"no promotion target {name!r}")
