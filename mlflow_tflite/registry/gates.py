"""The chance-level baseline gate, in front of the registry.

Every promotion constraint is relative to the baseline, so a baseline that learned
nothing (`train.epochs: 0` on an untrained model, BatchNorm statistics that never
converged, shuffled labels) makes its variants pass and win on noise. A flow run records
the chance accuracy of its test split (`chance_accuracy`: the larger of 1/classes and the
most frequent class's share, what always answering one class scores) beside
`baseline_accuracy`; a baseline within `promote.chance_margin` (default 0.05) of it is
tagged `mlflow_tflite.warning` and printed as a WARNING, and promotion moves no alias
for that flow run unless `promote.allow_chance_baseline: true`. Runs without labels or
without class scores (fidelity-only) have no accuracy and are not gated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CHANCE_METRIC = "chance_accuracy"
BASELINE_METRIC = "baseline_accuracy"
WARNING_TAG = "mlflow_tflite.warning"
DEFAULT_CHANCE_MARGIN = 0.05


def chance_accuracy(labels: Any, num_classes: int) -> float | None:
    """What always answering the most frequent class scores on `labels` (at least
    1/num_classes); None without labels."""
    if labels is None or num_classes < 1:
        return None
    labels = np.asarray(labels).reshape(-1)
    if labels.size == 0:
        return None
    majority = np.bincount(labels.astype(np.int64)).max() / labels.size
    return float(max(1.0 / num_classes, majority))


def chance_warning(
    accuracy: float | None, chance: float | None, margin: float = DEFAULT_CHANCE_MARGIN
) -> str | None:
    """The warning for a baseline at or near chance level, else None."""
    if accuracy is None or chance is None or accuracy > chance + margin:
        return None
    return (f"the baseline's test accuracy {accuracy:.4f} is at chance level (chance "
            f"{chance:.4f} + margin {margin:g}): it learned nothing, so every variant "
            "compared against it is noise")


def record_chance(
    run_id: str, accuracy: float | None, chance: float | None,
    margin: float = DEFAULT_CHANCE_MARGIN,
) -> str | None:
    """Log `chance_accuracy` on a flow's parent run and tag it when the baseline is at
    chance level; returns the warning, if any."""
    from mlflow import MlflowClient

    if chance is None:
        return None
    client = MlflowClient()
    client.log_metric(run_id, CHANCE_METRIC, chance)
    warning = chance_warning(accuracy, chance, margin)
    if warning:
        client.set_tag(run_id, WARNING_TAG, warning)
    return warning


def chance_refusal(parent: Any, allow: bool, margin: float) -> str | None:
    """Why promotion of flow run `parent` (an MLflow Run) must not move an alias, or None."""
    metrics = parent.data.metrics
    warning = chance_warning(metrics.get(BASELINE_METRIC), metrics.get(CHANCE_METRIC), margin)
    if warning is None or allow:
        return None
    return f"{warning}; set promote.allow_chance_baseline: true to promote it anyway"
