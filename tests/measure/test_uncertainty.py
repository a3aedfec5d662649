"""Paired bootstrap intervals and McNemar's exact p on right/wrong arrays."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_tflite.measure.uncertainty import (
    mcnemar_p,
    mean_interval,
    means_with_intervals,
    paired_interval,
)


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


def test_per_example_metrics_are_their_mean_with_a_paired_interval_at_fp32s_mean() -> None:
    rng = np.random.default_rng(2)
    theirs = rng.random(500)
    ours = theirs + 0.01 + rng.normal(0, 0.002, 500)  # the same examples, 0.01 worse
    found = means_with_intervals({"err": ours, "p95": 0.3}, {"err": theirs, "p95": 0.25})
    assert found["err"] == pytest.approx(ours.mean()) and found["p95"] == 0.3
    # Paired: tight around ours' mean though each array spreads over [0, 1].
    assert found["err_ci_low"] < found["err"] < found["err_ci_high"]
    assert found["err_ci_high"] - found["err_ci_low"] < 0.001
    assert "p95_ci_low" not in found  # a number has no interval
    assert means_with_intervals({"err": theirs}, {"err": theirs})["err_ci_low"] == \
        pytest.approx(theirs.mean())  # fp32 against itself: no width
    assert set(means_with_intervals({"err": ours}, {})) == {"err"}
    with pytest.raises(ValueError, match="^err: 500 per-example values, but the fp32 model's"):
        means_with_intervals({"err": ours}, {"err": theirs[:10]})
