"""What one variant produced: the record the tracking, report and CLI layers share."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlflow_tflite.measure import CORE_METRICS, FIDELITY_METRICS

OK = "ok"
FAILED = "failed"

# The per-variant metrics every run logs and the fidelity ones (the catalogue's `core`
# and `fidelity` groups), in the order tables show them.
METRICS = (*CORE_METRICS, *FIDELITY_METRICS)


@dataclass
class VariantRecord:
    """One variant of a flow run, successful or not.

    `metrics` holds the catalogue's names (and `<delegate>/latency_*`); `measurement` is the
    full measurement with its settings, logged as `measurement.json`; `params` the
    variant's config as the child run's params; `error` is one line
    and `traceback` the detail logged as `error.txt` when the variant failed.
    """

    name: str
    technique: str
    quantization: str
    status: str = OK
    metrics: dict[str, float] = field(default_factory=dict)
    delegate: str = ""
    measurement: dict[str, Any] = field(default_factory=dict)
    tflite_path: str | None = None
    error: str | None = None
    traceback: str | None = None
    failed_step: str | None = None
    reused: bool = False
    run_id: str | None = None
    # The variant's own config as params (tracking.runs.variant_params).
    params: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == OK

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VariantRecord:
        return cls(**data)
