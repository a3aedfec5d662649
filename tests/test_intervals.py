"""A metric's 95% interval, found by its logged bounds and shown beside it."""

from __future__ import annotations

import pytest

from mlflow_tflite.intervals import bound_names, interval_of, with_interval


def test_a_metric_has_an_interval_when_both_bounds_are_logged() -> None:
    assert bound_names("mae") == ("mae_ci_low", "mae_ci_high")
    assert interval_of({"mae_ci_low": 0.1, "mae_ci_high": 0.2}, "mae") == (0.1, 0.2)
    assert interval_of({"mae_ci_low": 0.1}, "mae") is None
    assert interval_of({"mae_ci_low": 0.1, "mae_ci_high": float("nan")}, "mae") is None


@pytest.mark.parametrize(
    ("name", "row", "table", "card"),
    [
        ("accuracy_delta", {"accuracy_delta": -0.004, "accuracy_delta_ci_low": -0.011,
                            "accuracy_delta_ci_high": 0.003},
         "-0.4 pt [-1.1, +0.3]", "-0.0040 [-0.0110, 0.0030]"),
        # The table shows accuracy's interval once, on accuracy_delta; the card on both.
        ("accuracy", {"accuracy": 0.965, "accuracy_ci_low": 0.961, "accuracy_ci_high": 0.969},
         "0.9650", "0.9650 [0.9610, 0.9690]"),
        # Any metric whose bounds are logged, a unit left off the bounds.
        ("latency_p50_ms", {"latency_p50_ms": 0.036, "latency_p50_ms_ci_low": 0.03,
                            "latency_p50_ms_ci_high": 0.04},
         "0.036 ms [0.030, 0.040]", "0.0360 [0.0300, 0.0400]"),
        ("latency_vs_fp32", {"latency_vs_fp32": 0.94, "latency_vs_fp32_ci_low": 0.9,
                             "latency_vs_fp32_ci_high": 0.97},
         "0.94 [0.90, 0.97]", "0.94 [0.90, 0.97]"),
        # A whole bound keeps the metric's decimals on the card.
        ("agreement", {"agreement": 0.9944, "agreement_ci_low": 0.9917,
                       "agreement_ci_high": 1.0}, "0.9944 [0.9917, 1.0000]",
         "0.9944 [0.9917, 1.0000]"),
        # No width (the same predictions as fp32), no bounds, or no value: the value alone.
        ("accuracy_delta", {"accuracy_delta": 0.0, "accuracy_delta_ci_low": 0.0,
                            "accuracy_delta_ci_high": 0.0}, "+0.0 pt", "0.0000"),
        ("accuracy", {"accuracy": 0.965}, "0.9650", "0.9650"),
        ("accuracy", {"accuracy_ci_low": 0.9, "accuracy_ci_high": 1.0}, "-", "-"),
    ],
)
def test_the_interval_follows_the_value_in_brackets(name: str, row: dict, table: str,
                                                    card: str) -> None:
    assert with_interval(row, name, "table") == table
    assert with_interval(row, name, "card") == card
