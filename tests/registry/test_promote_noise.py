"""The champion moves only when the challenger is better beyond noise (real SQLite registry)."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from mlflow_tflite.config.promote import PromoteConfig
from mlflow_tflite.registry import promote_flow_run
from mlflow_tflite.registry.noise import difference
from tests.registry.flowruns import metrics


def policy(*objective: str) -> PromoteConfig:
    return PromoteConfig.model_validate(
        {"objective": list(objective), "constraints": {"max_accuracy_drop": 0.02}})


def accurate(accuracy: float, half_width: float, **more: float) -> dict[str, float]:
    """A variant's metrics with an accuracy and its 95% interval, as a flow run logs them
    (on the selection split, through the accuracy delta's interval)."""
    delta = accuracy - 0.955
    return metrics(accuracy=accuracy, accuracy_delta=delta, **{
        "selection/accuracy": accuracy, "selection/accuracy_delta": delta,
        "selection/accuracy_delta_ci_low": delta - half_width,
        "selection/accuracy_delta_ci_high": delta + half_width}, **more)


def champion_version(name: str) -> str:
    return str(MlflowClient().get_model_version_by_alias(name, "champion").version)


def test_an_accuracy_gain_within_noise_keeps_the_champion_and_says_so(
    sqlite_uri, flow, model_name
) -> None:
    first = promote_flow_run(flow({"a": accurate(0.950, 0.006)}), model_name,
                             policy("accuracy"))
    second = promote_flow_run(flow({"b": accurate(0.952, 0.006)}), model_name,
                              policy("accuracy"))
    target = second.target()
    assert target.outcome == "challenger"
    assert target.reason == ("its selection/accuracy +0.2 pt [-0.6, +1.0] against the "
                             "champion's is within noise")
    assert champion_version(model_name) == first.target().version
    assert (f"but its selection/accuracy +0.2 pt [-0.6, +1.0] against the champion's is "
            f"within noise; version {target.version} gets alias challenger and champion "
            f"stays on version {first.target().version}") in second.summary


def test_an_accuracy_gain_beyond_noise_moves_the_champion(sqlite_uri, flow, model_name) -> None:
    promote_flow_run(flow({"a": accurate(0.950, 0.003)}), model_name, policy("accuracy"))
    second = promote_flow_run(flow({"b": accurate(0.970, 0.003)}), model_name,
                              policy("accuracy"))
    target = second.target()
    assert target.outcome == "promoted"
    assert target.reason == ("it beats the champion on selection/accuracy (0.97 vs. 0.95; "
                             "+2.0 pt [+1.6, +2.4], beyond noise)")
    assert champion_version(model_name) == target.version


def test_a_tie_within_noise_goes_to_the_next_objective_and_size_is_exact(
    sqlite_uri, flow, model_name
) -> None:
    objective = policy("accuracy", "size_bytes")
    promote_flow_run(flow({"a": accurate(0.952, 0.006, size_bytes=9_000)}), model_name,
                     objective)
    # Less accurate within noise, one byte smaller: the bytes are real, the point is not.
    second = promote_flow_run(flow({"b": accurate(0.950, 0.006, size_bytes=8_999)}),
                              model_name, objective)
    target = second.target()
    assert target.outcome == "promoted"
    assert target.reason == ("it beats the champion on size_bytes (8,999 B vs. 9,000 B) "
                             "(selection/accuracy -0.2 pt [-1.0, +0.6] against the "
                             "champion's is within noise)")


def test_a_latency_gain_within_timing_noise_keeps_the_champion(
    sqlite_uri, flow, model_name
) -> None:
    # p50 1.00 ms at 0.50x fp32 [0.45, 0.55] against 0.97 ms at 0.485x [0.44, 0.53].
    first = promote_flow_run(flow({"a": metrics(latency_vs_fp32_ci_low=0.45,
                                                latency_vs_fp32_ci_high=0.55)}),
                             model_name, policy("latency_p50_ms"))
    faster = metrics(latency_p50_ms=0.97, latency_vs_fp32=0.485, latency_vs_fp32_ci_low=0.44,
                     latency_vs_fp32_ci_high=0.53)
    second = promote_flow_run(flow({"b": faster}), model_name, policy("latency_p50_ms"))
    assert second.target().outcome == "challenger"
    assert second.target().reason.startswith("its latency_p50_ms -0.030 ms [-0.")
    assert champion_version(model_name) == first.target().version
    # A fifth faster, timed tightly, is more than the champion's own timing noise.
    clearly = metrics(latency_p50_ms=0.8, latency_vs_fp32=0.4, latency_vs_fp32_ci_low=0.39,
                      latency_vs_fp32_ci_high=0.41)
    third = promote_flow_run(flow({"c": clearly}), model_name, policy("latency_p50_ms"))
    assert third.target().outcome == "promoted", third.target().reason
    assert "beyond noise" in third.target().reason


def test_the_difference_interval_combines_both_sides_and_none_is_exact() -> None:
    ours, theirs = accurate(0.96, 0.003), accurate(0.95, 0.004)
    found = difference(ours, theirs, "accuracy", selection=True)
    assert found.value == pytest.approx(0.01)
    assert found.low == pytest.approx(0.01 - 0.005) and found.high == pytest.approx(0.015)
    assert difference(ours, theirs, "size_bytes", selection=False) is None
