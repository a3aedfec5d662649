"""Paired bootstrap intervals and McNemar's exact p on right/wrong arrays."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_tflite.measure.uncertainty import mcnemar_p, mean_interval, paired_interval


def test_a_paired_interval_holds_the_difference_and_is_seeded() -> None:
    rng = np.random.default_rng(1)
    reference = rng.random(1000) < 0.96
    ours = reference.copy()
    ours[:20] = False  # 20 images fewer right: about -2 pt
    interval = paired_interval(ours, reference, shift=0.001)
    point = ours.mean() - reference.mean() + 0.001
    assert interval.low < point < interval.high < 0.0
    assert paired_interval(ours, reference, shift=0.001) == interval


def test_identical_models_have_a_zero_width_interval_and_p_one() -> None:
    same = np.array([True, False, True, True])
    assert paired_interval(same, same) == (paired_interval(same, same).__class__(0.0, 0.0))
    assert mean_interval(np.ones(10, dtype=bool)).low == 1.0
    assert mcnemar_p(same, same) == 1.0


def test_mcnemar_is_exact_on_the_discordant_images() -> None:
    ours = np.array([True] * 6 + [False] * 4)
    theirs = np.array([False] * 6 + [True] * 0 + [False] * 4)
    assert mcnemar_p(ours, theirs) == pytest.approx(2 * 0.5**6)
