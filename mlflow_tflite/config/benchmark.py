"""The `benchmark` section: how latency is measured."""

from __future__ import annotations

from pydantic import Field, model_validator

from mlflow_tflite.litert import DELEGATES
from mlflow_tflite.section import Section


class BenchmarkConfig(Section):
    """Delegates, threads and run counts for latency measurement."""

    delegates: list[str] = Field(
        ["xnnpack", "builtin"],
        description="CPU delegates to time: xnnpack, builtin, reference, or "
        "`external:/path/to/delegate.so`.",
        min_length=1,
    )
    primary_delegate: str = Field(
        "xnnpack", description="Whose latency fills the unprefixed latency metrics."
    )
    threads: int = Field(1, ge=1, le=64)
    warmup_runs: int = Field(5, ge=0)
    timed_runs: int = Field(50, ge=1)
    cold_start: bool = Field(True, description="Measure cold start and memory in a subprocess.")

    @model_validator(mode="after")
    def _known_delegates(self) -> BenchmarkConfig:
        for name in self.delegates:
            if name not in DELEGATES and not name.startswith("external:"):
                raise ValueError(
                    f"unknown delegate {name!r}; expected one of {', '.join(DELEGATES)} "
                    "or external:/path/to/library.so"
                )
        if self.primary_delegate not in self.delegates:
            raise ValueError(
                f"primary_delegate {self.primary_delegate!r} must be one of delegates "
                f"{self.delegates}"
            )
        return self
