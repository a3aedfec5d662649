"""What one variant produced: the record the tracking, report and CLI layers share."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from mlflow_tflite.measure import CORE_METRICS, FIDELITY_METRICS, UNCERTAINTY_METRICS

OK = "ok"
FAILED = "failed"
# A variant the baseline's kind cannot take: no child run, a line in the parent's
# `mlflow_tflite.skipped` tag (`skipped_tag`), a row in the tables.
SKIPPED = "skipped"

# The verdicts (`mlflow_tflite.verdict` on a child run, the tables' `verdict` column): the
# variant holding the champion alias, one that passed every gate, `refused: <gate>`
# (`registry.verdicts`), `failed: <step>: <reason>`, `skipped: <reason>`.
CHAMPION = "champion"
PASSED = "passed"
REFUSED = "refused"

# The per-variant metrics every run logs, the fidelity ones and the intervals (the
# catalogue's `core`, `fidelity` and `uncertainty` groups), in the order tables show them.
METRICS = (*CORE_METRICS, *FIDELITY_METRICS, *UNCERTAINTY_METRICS)


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
    # What the promotion policy made of it (CHAMPION, PASSED, `refused: ...`); None until
    # judged. A failed or skipped variant's verdict follows from its status (`verdict_line`).
    verdict: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def skipped(self) -> bool:
        return self.status == SKIPPED

    def verdict_line(self) -> str:
        """The verdict: `failed: <step>: <reason>`, `skipped: <reason>`, the policy's
        verdict, or `ok` for a finished variant no policy judged (a run before verdicts)."""
        if self.skipped:
            return f"{SKIPPED}: {self.error}"
        if not self.ok:
            return f"{FAILED}: {self.failed_step or 'unknown'}: {self.error}"
        return self.verdict or self.status

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VariantRecord:
        return cls(**data)


_SKIPPED_LINE = re.compile(r"^(?P<name>.+?) \((?P<technique>[^,]*), (?P<quantization>[^)]*)\): "
                           r"(?P<reason>.*)$")


def skipped_tag(records: list[VariantRecord]) -> str:
    """The parent run's `mlflow_tflite.skipped` tag: a line per skipped variant,
    `pruned-int8 (prune, int8): pruning needs a tf_keras model; train.model is a .tflite
    file` (empty when none was skipped)."""
    return "\n".join(f"{r.name} ({r.technique}, {r.quantization}): {r.error}"
                     for r in records if r.skipped)


def skipped_records(tag: str) -> list[VariantRecord]:
    """The skipped variants a `skipped_tag` value lists."""
    found = (_SKIPPED_LINE.match(line) for line in tag.splitlines())
    return [VariantRecord(name=m["name"], technique=m["technique"],
                          quantization=m["quantization"], status=SKIPPED, error=m["reason"])
            for m in found if m]
