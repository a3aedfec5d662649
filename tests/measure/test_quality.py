from __future__ import annotations

import numpy as np
import pytest

from mlflow_tflite.measure.quality import (
    SNR_CEILING_DB,
    accuracy,
    agreement,
    class_scores,
    max_abs_diff,
    output_cosine,
    output_snr_db,
)

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


def test_output_snr_is_signal_over_error_power_in_decibels() -> None:
    reference = np.ones((4, 10))
    noisy = reference + 0.01  # error power 1e-4 of the signal's: 40 dB
    assert output_snr_db(noisy, reference) == pytest.approx(40.0)


def test_identical_outputs_report_the_float32_ceiling_not_infinity() -> None:
    assert output_snr_db(LOGITS, LOGITS) == SNR_CEILING_DB
    assert 138 < SNR_CEILING_DB < 139


def test_output_cosine_is_the_mean_per_sample_cosine() -> None:
    flipped = LOGITS.copy()
    flipped[0] = -flipped[0]
    assert output_cosine(LOGITS, LOGITS) == pytest.approx(1.0)
    assert output_cosine(flipped, LOGITS) == pytest.approx(0.5)
    assert output_cosine(np.zeros((2, 3)), np.zeros((2, 3))) == 1.0


def test_fidelity_compares_every_output_of_a_multi_output_model() -> None:
    points, scores = np.ones((3, 2, 2)), np.full((3, 1), 0.5)
    shifted = [points + 0.1, scores]
    assert output_snr_db([points, scores], [points, scores]) == SNR_CEILING_DB
    assert output_snr_db(shifted, [points, scores]) < 30


@pytest.mark.parametrize(
    ("shapes", "classes", "expected"),
    [
        ([(None, 10)], 10, True),
        ([(-1, 10)], 10, True),
        ([(1, 10)], 3, False),  # scores of other classes
        ([(None, 4), (None, 2)], 4, False),  # a detector's boxes and scores
        ([(None, 5, 2)], 5, False),  # landmarks
        ([(None, 10)], 0, False),  # no labels (synthetic data)
    ],
)
def test_only_one_output_of_class_scores_is_judged_by_accuracy(shapes, classes, expected):
    assert class_scores(shapes, classes) is expected


def test_a_large_batch_is_predicted_in_chunks_with_the_same_outputs(
    float_model: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow_tflite.measure import outputs
    from tests.helpers import digits

    x = digits()[0][:50]
    whole = outputs.predict_all(float_model, x, delegate="builtin")
    monkeypatch.setattr(outputs, "PREDICT_BYTES", 1)  # one sample an invoke
    chunked = outputs.predict_all(float_model, x, delegate="builtin")
    # Builtin kernels round a little differently per batch size, never more than that.
    np.testing.assert_allclose(whole[0], chunked[0], rtol=1e-5, atol=1e-6)
