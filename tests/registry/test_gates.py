"""The chance-level baseline gate: chance accuracy, the margin, the refusal."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_tflite.registry.gates import chance_accuracy, chance_warning


def test_chance_is_one_over_the_classes_or_the_majority_share():
    assert chance_accuracy(np.arange(100) % 10, 10) == pytest.approx(0.1)
    assert chance_accuracy(np.array([0] * 8 + [1] * 2), 2) == pytest.approx(0.8)
    assert chance_accuracy(None, 10) is None
    assert chance_accuracy(np.zeros((0,), dtype=np.int64), 0) is None  # synthetic: no labels


@pytest.mark.parametrize(("accuracy", "gated"),
                         [(0.10, True), (0.15, True), (0.151, False), (0.96, False),
                          (None, False)])  # None: judged by fidelity, nothing to gate
def test_a_baseline_within_the_margin_of_chance_is_chance_level(accuracy, gated: bool):
    warning = chance_warning(accuracy, 0.1, margin=0.05)
    assert (warning is not None) == gated
    if gated:
        assert warning.startswith(f"the baseline's test accuracy {accuracy:.4f} is at chance "
                                  "level (chance 0.1000 + margin 0.05)")
