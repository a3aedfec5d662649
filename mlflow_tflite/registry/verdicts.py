"""Each variant's verdict under the promotion policy: the `mlflow_tflite.verdict` tag of
its child run and the tables' `verdict` column.

The first target decides (the one whose winner `metrics.json` names): a variant that
fails one of its gates is `refused: <each failed gate>`, the one now holding its alias is
`champion`, the others `passed`. Failed and skipped variants carry their own verdict
(`tracking.VariantRecord.verdict_line`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlflow_tflite.config.promote import PromoteConfig
from mlflow_tflite.registry.policy import Candidate, Evaluation, evaluate
from mlflow_tflite.tracking.records import CHAMPION, PASSED, REFUSED, VariantRecord

# Outcomes after which the first target's winner is what its alias holds (`identical`: the
# champion version is byte for byte this variant's model).
CHAMPION_OUTCOMES = ("promoted", "already_champion", "identical")


def champion_of(decision: Mapping[str, Any] | None) -> str | None:
    """The variant holding the first target's alias after a decision
    (`Decision.to_dict()`); None when it stayed with an earlier champion or none moved."""
    targets = (decision or {}).get("targets") or []
    if targets and targets[0].get("outcome") in CHAMPION_OUTCOMES:
        return targets[0].get("winner")
    return None


def verdicts(evaluation: Evaluation, champion: str | None) -> dict[str, str]:
    """`champion`, `passed` or `refused: <gate>; <gate>` by variant."""
    found = {}
    for variant, failures in evaluation.failures.items():
        if failures:
            found[variant] = f"{REFUSED}: " + "; ".join(f.message for f in failures)
        else:
            found[variant] = CHAMPION if variant == champion else PASSED
    return found


def judge_records(records: Sequence[VariantRecord], policy: PromoteConfig,
                  decision: Mapping[str, Any] | None) -> None:
    """Set `verdict` on each finished record: the first target's gates on its metrics (also
    with promotion disabled: the table says what the policy would refuse) and the
    decision's champion."""
    # A target's tags (`mcu/compatible_reason`) word a failed gate as the policy does.
    candidates = [Candidate(r.name, r.run_id or "", r.metrics,
                            tags=r.measurement.get("targets", {}).get("tags", {}))
                  for r in records if r.ok]
    evaluation = evaluate(candidates, policy.resolved_targets()[0])
    found = verdicts(evaluation, champion_of(decision))
    for record in records:
        if record.ok:
            record.verdict = found[record.name]

