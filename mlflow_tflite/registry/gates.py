"""Gates in front of the registry that the variant constraints cannot see.

- **Chance-level baseline.** Every constraint is relative to the baseline, so a baseline
  that learned nothing (`train.epochs: 0`, a broken model, shuffled labels) makes its
  untrained variants pass and win. A flow run records the chance accuracy of its test set
  (`chance_accuracy`: the larger of 1/classes and the most frequent class's share, what
  always answering one class scores) beside `baseline_accuracy`; a baseline within
  `promote.chance_margin` (default 0.05) of it is tagged with a warning, and promotion
  refuses to move any alias for it unless `promote.allow_chance_baseline: true`.
- **Byte-identical winner.** A winner whose `.tflite` has the sha256 of the current
  champion's is the champion: no new version, no alias move (a scheduled rerun must not
  fill the registry with copies).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from mlflow_tflite.tracking.layout import WARNING_TAG

CHANCE_METRIC = "chance_accuracy"
BASELINE_METRIC = "baseline_accuracy"
DEFAULT_CHANCE_MARGIN = 0.05


def chance_accuracy(labels: Any, num_classes: int) -> float | None:
    """What always answering the most frequent class scores on `labels` (at least
    1/num_classes); None without labels (fidelity-only runs)."""
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
            "compared against it is meaningless")


def record_chance(
    run_id: str, accuracy: float, chance: float | None, margin: float = DEFAULT_CHANCE_MARGIN
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


@lru_cache(maxsize=256)
def model_sha256(model_uri: str) -> str | None:
    """The sha256 of the `.tflite` behind a model URI, as its MLmodel records it."""
    from mlflow.models import get_model_info

    try:
        return get_model_info(model_uri).flavors.get("tflite", {}).get("sha256")
    except Exception:  # noqa: BLE001 - unreadable: not known to be identical
        return None


def identical_to_champion(candidate_uri: str, champion: Any) -> str | None:
    """The shared sha256 when the candidate's model is byte-identical to `champion`'s
    (a ModelVersion), else None."""
    mine = model_sha256(candidate_uri)
    theirs = model_sha256(f"models:/{champion.name}/{champion.version}")
    return mine if mine and mine == theirs else None
