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
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from mlflow_tflite.config.base import Section

# Objective metrics and whether larger is better; latency may carry a `<delegate>/` prefix.
OBJECTIVE_METRICS: dict[str, bool] = {
    "size_bytes": False,
    "gzip_size_bytes": False,
    "latency_p50_ms": False,
    "latency_p90_ms": False,
    "accuracy": True,
}
_DELEGATE = r"[A-Za-z0-9_.\-]+"
_OBJECTIVE = re.compile(rf"^(?:(?P<delegate>{_DELEGATE})/)?(?P<metric>[a-z0-9_]+)$")
_ALIAS = re.compile(r"^[\w\-]+$")
_TARGET = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
DEFAULT_TARGET = "default"
# The objective `run` promotes by and `search` searches and promotes by, unless set: size
# after gzip (what a download costs), with accuracy and speed as constraints rather than
# objectives (max_accuracy_drop; max_latency_vs_fp32: 1.0, so the winner is never slower
# than fp32 on the primary delegate). A second objective would spend a search's trials on
# the accurate end of a Pareto front instead of the smallest model within the limits.
DEFAULT_OBJECTIVE = ("gzip_size_bytes",)


def objective_direction(name: str) -> bool:
    """True when larger values of objective `name` are better (accuracy)."""
    return OBJECTIVE_METRICS[name.rpartition("/")[2]]


def _check_objective_name(name: str) -> str:
    match = _OBJECTIVE.match(name)
    metric = match["metric"] if match else ""
    if metric not in OBJECTIVE_METRICS:
        raise ValueError(
            f"unknown objective {name!r}; expected one of {', '.join(OBJECTIVE_METRICS)}, "
            "latency optionally per delegate (xnnpack/latency_p50_ms)"
        )
    if match["delegate"] and not metric.startswith("latency_"):
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


class ConstraintsConfig(Section):
    """Gates a variant must pass to be promoted; all optional.

    `accuracy_delta` is the variant's accuracy minus the Keras baseline's, so a drop is a
    negative delta. `latency_vs_fp32` is the variant's p50 over the fp32 model's, timed
    back to back on the primary delegate. Latency limits apply to
    `<latency_delegate>/latency_p50_ms` (or p90), or to the unprefixed metrics (the
    primary delegate) when `latency_delegate` is unset.
    """

    max_accuracy_drop: float | None = Field(
        None, ge=0.0, le=1.0, description="Largest allowed accuracy drop vs. the baseline."
    )
    min_agreement: float | None = Field(
        None, ge=0.0, le=1.0, description="Smallest top-1 agreement with the fp32 variant."
    )
    min_output_snr_db: float | None = Field(
        None, description="Smallest output SNR against the float model, in dB (fidelity)."
    )
    max_latency_vs_fp32: float | None = Field(
        None, gt=0.0,
        description="Largest p50 latency as a multiple of the fp32 model's on the primary "
        "delegate (1.0: not slower than fp32).",
    )
    max_latency_p50_ms: float | None = Field(None, gt=0.0)
    max_latency_p90_ms: float | None = Field(None, gt=0.0)
    latency_delegate: str | None = Field(
        None, description="Delegate whose latency the limits apply to (e.g. xnnpack)."
    )
    max_size_bytes: int | None = Field(None, gt=0)
    max_gzip_size_bytes: int | None = Field(None, gt=0)
    integer_only: bool = Field(False, description="Require integer-only ops (metric 1).")
    gpu_compatible: bool = Field(False, description="Require GPU-delegate compatibility.")

    @field_validator("latency_delegate")
    @classmethod
    def _delegate_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(_DELEGATE, value):
            raise ValueError(f"latency_delegate {value!r}: expected a delegate name like xnnpack")
        return value

    @model_validator(mode="after")
    def _delegate_needs_limit(self) -> ConstraintsConfig:
        if self.latency_delegate and not (self.max_latency_p50_ms or self.max_latency_p90_ms):
            raise ValueError("latency_delegate needs max_latency_p50_ms or max_latency_p90_ms")
        return self


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
    allow_chance_baseline: bool = Field(
        False, description="Promote even when the baseline's test accuracy is at chance level."
    )
    chance_margin: float = Field(
        0.05, ge=0.0, lt=1.0,
        description="A baseline within this of chance accuracy counts as chance level.",
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
