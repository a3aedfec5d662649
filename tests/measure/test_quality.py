from __future__ import annotations

import numpy as np
import pytest

from mlflow_tflite.measure.quality import accuracy, agreement, max_abs_diff

LOGITS = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], dtype=np.float32)


def test_accuracy_counts_top1_hits_for_integer_labels() -> None:
    assert accuracy(LOGITS, np.array([1, 0, 0, 0])) == pytest.approx(0.75)


def test_accuracy_accepts_one_hot_labels() -> None:
    assert accuracy(LOGITS, np.eye(2)[[1, 0, 1, 0]]) == 1.0


def test_accuracy_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="4 outputs but 3 labels"):
        accuracy(LOGITS, np.array([1, 0, 1]))


def test_agreement_compares_top1_classes_not_values() -> None:
    scaled = LOGITS * 10
    scaled[3] = [0.0, 1.0]
    assert agreement(scaled, LOGITS) == pytest.approx(0.75)


def test_max_abs_diff_is_the_largest_elementwise_gap() -> None:
    other = LOGITS.copy()
    other[2, 1] += 0.5
    assert max_abs_diff(other, LOGITS) == pytest.approx(0.5)


def test_max_abs_diff_rejects_different_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        max_abs_diff(LOGITS, LOGITS[:, :1])
