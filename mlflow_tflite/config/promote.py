"""The `promote` section: which variant the registry promotes (owned by the registry module)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlflow_tflite.config.base import Section

Objective = Literal["size_bytes", "gzip_size_bytes", "latency_p50_ms", "latency_p90_ms", "accuracy"]


class ConstraintsConfig(Section):
    """Gates a variant must pass to be promoted; all optional."""

    max_accuracy_drop: float | None = Field(0.02, ge=0.0, le=1.0)
    min_agreement: float | None = Field(None, ge=0.0, le=1.0)
    max_latency_ms: float | None = Field(None, gt=0.0)
    max_size_bytes: int | None = Field(None, gt=0)
    max_gzip_size_bytes: int | None = Field(None, gt=0)
    integer_only: bool = False
    gpu_compatible: bool = False


class PromoteConfig(Section):
    """Promotion policy."""

    enabled: bool = True
    objective: list[Objective] = Field(["size_bytes", "latency_p50_ms"], min_length=1)
    constraints: ConstraintsConfig = ConstraintsConfig()
