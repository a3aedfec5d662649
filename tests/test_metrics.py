"""The catalogue of metrics and gates: the search and the policy judge every gate alike."""

from __future__ import annotations

import pytest

from mlflow_tflite import metrics
from mlflow_tflite.config import ParamsError, parse_params
from mlflow_tflite.config.promote import ConstraintsConfig
from mlflow_tflite.constraints import GATES, Gate, gate_for
from mlflow_tflite.metrics import Metric, format_metric, register_metric
from mlflow_tflite.registry.policy import constraint_failures
from mlflow_tflite.search import objective

VARIANTS = [{"name": "fp32", "convert": {"quantization": "none"}}]


def _limit(gate: Gate) -> float | bool:
    if gate.flag:
        return True
    if "le" in gate.bounds:
        return 0.02 if gate.vs_baseline else 0.9
    return 20_000 if gate.integer else 20.0


def _sides(gate: Gate, limit: float | bool) -> list[tuple[float, bool]]:
    """Metric values around the threshold, and whether each should pass."""
    if gate.flag:
        return [(1.0, True), (0.0, False)]
    if gate.vs_baseline:  # the metric is the delta, the limit a drop
        return [(-limit + 0.001, True), (-limit, True), (-limit - 0.001, False),
                (0.96 - 0.98, True)]  # a drop of 0.02 that rounding makes 0.020000000000000018
    step = 0.01 * abs(limit)
    lower_passes = gate.comparison == "max"
    return [(limit - step, lower_passes), (limit, True), (limit + step, not lower_passes)]


def _judge(constraints: ConstraintsConfig, values: dict[str, float]) -> tuple[bool, bool]:
    feasible = all(v <= 0 for v in objective.constraint_values(values, constraints).values())
    return feasible, not constraint_failures(values, constraints)


@pytest.mark.parametrize("gate", GATES, ids=lambda g: g.key)
def test_the_search_and_the_policy_agree_on_every_gate_on_both_sides(gate: Gate) -> None:
    limit = _limit(gate)
    constraints = ConstraintsConfig(**{gate.key: limit})
    assert len(objective.constraint_values({}, constraints)) == 1  # the search sees the gate
    for value, passes in _sides(gate, limit):
        feasible, promoted = _judge(constraints, {gate.metric: value})
        assert (feasible, promoted) == (passes, passes), (gate.key, value)
    assert _judge(constraints, {}) == (False, False)  # a missing metric cannot pass


@pytest.mark.parametrize("gate_on", ["point", "conservative", "lenient"])
@pytest.mark.parametrize("gate", [g for g in GATES if not g.flag], ids=lambda g: g.key)
def test_the_search_and_the_policy_agree_on_every_gate_under_every_gate_on(
    gate: Gate, gate_on: str
) -> None:
    """An interval straddling the limit: the point passes or fails as above, the worse end
    fails (conservative refuses) and the better end passes (lenient lets it through)."""
    limit = _limit(gate)
    constraints = ConstraintsConfig(**{gate.key: limit, "gate_on": gate_on})
    better_is_higher = metrics.higher_is_better(gate.metric)
    for value, passes in _sides(gate, limit)[:3]:
        # The 95% interval: far enough each way to cross the limit, worse and better.
        spread = max(abs(value), abs(limit), 1.0) * 0.5
        low, high = value - spread, value + spread
        values = {gate.metric: value, f"{gate.metric}_ci_low": low,
                  f"{gate.metric}_ci_high": high}
        expected = {"point": passes, "conservative": False, "lenient": True}[gate_on]
        if better_is_higher is None:  # no direction, no interval to judge
            expected = passes
        assert _judge(constraints, values) == (expected, expected), (gate.key, value, gate_on)


@pytest.mark.parametrize(
    ("ratio", "low", "high", "expected"),
    [  # (point, conservative, lenient) under max_latency_vs_fp32: 1.0
        (1.04, 0.97, 1.10, (False, False, True)),  # as fast as fp32 within noise
        (0.98, 0.93, 1.03, (True, False, True)),
        (1.20, 1.12, 1.31, (False, False, False)),  # surely slower
        (0.60, 0.55, 0.66, (True, True, True)),
    ],
)
def test_the_search_and_the_policy_agree_on_the_latency_gate_under_every_gate_on(
    ratio: float, low: float, high: float, expected: tuple[bool, bool, bool]
) -> None:
    values = {"latency_vs_fp32": ratio, "latency_vs_fp32_ci_low": low,
              "latency_vs_fp32_ci_high": high}
    for gate_on, passes in zip(("point", "conservative", "lenient"), expected, strict=True):
        constraints = ConstraintsConfig(max_latency_vs_fp32=1.0, gate_on=gate_on)
        assert _judge(constraints, values) == (passes, passes), (ratio, gate_on)
    refusal = ConstraintsConfig(max_latency_vs_fp32=1.0, gate_on="conservative")
    if not expected[1]:
        assert objective.failure_messages(values, refusal) == [
            f"latency_vs_fp32 {high:.4g} > max_latency_vs_fp32 1 "
            "(conservative: the end of its 95% interval)"]


def test_gate_on_per_key_judges_the_accuracy_interval_and_the_latency_point() -> None:
    """Non-inferiority on accuracy (the interval's low end must clear the drop), the
    latency ratio on its estimate: the search and the policy alike."""
    constraints = ConstraintsConfig(max_accuracy_drop=0.01, max_latency_vs_fp32=1.0,
                                    gate_on={"max_accuracy_drop": "conservative"})
    values = {"accuracy_delta": -0.002, "accuracy_delta_ci_low": -0.024,
              "accuracy_delta_ci_high": 0.02, "latency_vs_fp32": 0.98,
              "latency_vs_fp32_ci_low": 0.93, "latency_vs_fp32_ci_high": 1.03}
    assert _judge(constraints, values) == (False, False)
    assert objective.failure_messages(values, constraints) == [
        "accuracy drop 0.024 > max_accuracy_drop 0.01 "
        "(conservative: the end of its 95% interval)"]
    narrow = {**values, "accuracy_delta_ci_low": -0.008}
    assert _judge(constraints, narrow) == (True, True)  # latency 0.98 [0.93, 1.03]: point


@pytest.mark.parametrize("name", metrics.metric_names(), ids=str)
@pytest.mark.parametrize("comparison", ["min", "max"])
def test_min_and_max_of_any_catalogue_metric_are_gates_the_two_judge_alike(
    name: str, comparison: str
) -> None:
    key = f"{comparison}_{name}"
    gate = gate_for(key)
    assert gate is not None and gate.metric == name
    limit = _limit(gate)
    constraints = ConstraintsConfig(**{key: limit})
    for value, passes in _sides(gate, limit):
        assert _judge(constraints, {name: value}) == (passes, passes), (key, value)


def test_the_search_gates_on_output_snr_as_the_policy_does() -> None:
    constraints = ConstraintsConfig(min_output_snr_db=30.0)
    assert objective.constraint_values({"output_snr_db": 21.4}, constraints) == {
        "min_output_snr_db": pytest.approx(8.6)}
    assert objective.failure_messages({"output_snr_db": 21.4}, constraints) == [
        "output SNR 21.4 dB < min_output_snr_db 30"]


def test_latency_gates_read_the_named_delegate() -> None:
    constraints = ConstraintsConfig(max_latency_p50_ms=2.0, max_latency_p99_ms=4.0,
                                    latency_delegate="xnnpack")
    assert [g.metric for g in constraints.gates()] == [
        "xnnpack/latency_p50_ms", "xnnpack/latency_p99_ms"]
    slow = {"xnnpack/latency_p50_ms": 3.0, "xnnpack/latency_p99_ms": 3.0}
    assert objective.constraint_values(slow, constraints) == {
        "max_latency_p50_ms": 0.5, "max_latency_p99_ms": -0.25}
    assert [f.constraint for f in constraint_failures(slow, constraints)] == [
        "max_latency_p50_ms"]


@pytest.mark.parametrize(
    ("constraints", "expected_error"),
    [
        ({"max_size_byte": 10}, "promote.constraints.max_size_byte: unknown key"),
        ({"max_fps": 10}, "promote.constraints.max_fps: unknown key"),
        ({"metric_gates": {"max_fps": 1}}, "'max_fps' is not min_<metric> or max_<metric>"),
        ({"max_latency_p99_ms": "fast"}, "promote.constraints.metric_gates.max_latency_p99_ms"),
    ],
)
def test_a_constraint_key_that_is_no_gate_is_an_error(constraints: dict, expected_error: str):
    with pytest.raises(ParamsError, match=expected_error.replace("[", r"\[")):
        parse_params({"variants": VARIANTS, "promote": {"constraints": constraints}})


def test_a_registered_metric_ranks_and_gates_like_a_built_in_one() -> None:
    register_metric(Metric(name="test_mae", higher_is_better=False, label="mean abs error",
                           objective=True, group="user"))
    params = parse_params({"variants": VARIANTS, "promote": {
        "objective": ["test_mae"], "constraints": {"max_test_mae": 0.1}}})
    constraints = params.promote.constraints
    assert objective.directions(["test_mae"]) == ["minimize"]
    assert _judge(constraints, {"accuracy_delta": 0.0, "test_mae": 0.2}) == (False, False)
    assert _judge(constraints, {"accuracy_delta": 0.0, "test_mae": 0.05}) == (True, True)
    assert [f.message for f in constraint_failures({"test_mae": 0.2}, constraints)][-1] == (
        "test_mae 0.2 > max_test_mae 0.1")
    with pytest.raises(ValueError, match="already defined"):
        register_metric(Metric(name="test_mae", higher_is_better=True, group="user"))
    register_metric(Metric(name="test_energy_mj", higher_is_better=False, unit="mJ",
                           group="user"))
    assert format_metric("test_energy_mj", 1.23456, "table") == "1.2346 mJ"


@pytest.mark.parametrize(
    ("name", "value", "text", "table", "card"),
    [
        ("size_bytes", 100_000, "100,000 B", "97.7 KiB", "100,000"),
        ("xnnpack/latency_p50_ms", 0.2, "0.2 ms", "0.200 ms", "0.2000"),
        ("accuracy_delta", 0.01, "0.01", "+1.0 pt", "0.0100"),
        ("output_snr_db", 31.25, "31.2 dB", "31.2 dB", "31.2500"),
        ("cold_start_ms", 12.345, "12.3 ms", "12.345 ms", "12.35"),
        ("accuracy", None, "n/a", "-", "-"),
        ("variant", "int8", "int8", "int8", "int8"),
    ],
)
def test_one_function_formats_a_metric_for_messages_tables_and_the_card(
    name: str, value, text: str, table: str, card: str
) -> None:
    if isinstance(value, str):
        assert format_metric(name, value, "table") == table
        return
    assert [format_metric(name, value, s) for s in ("text", "table", "card")] == [
        text, table, card]


def _attribute_type(owner: type, name: str) -> type | None:
    """The type of attribute `name` of dataclass `owner` (a field, or a property's return)."""
    import typing

    member = getattr(owner, name, None)
    if isinstance(member, property):
        return typing.get_type_hints(member.fget).get("return")
    hints = typing.get_type_hints(owner)
    if name not in hints:
        raise AssertionError(f"{owner.__name__} has no {name}")
    kind = hints[name]
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return args[0] if args else kind


def test_every_metric_source_is_a_value_a_measurement_holds():
    """A metric's `source` is how `Measurement.metrics()` reads it: each step of the path
    names a field (or property) of the previous one, so one catalogue entry is enough."""
    import dataclasses

    from mlflow_tflite.measure import Measurement
    from mlflow_tflite.metrics import all_metrics
    from mlflow_tflite.plugins.target import TARGET_GROUP

    read = [m for m in all_metrics() if m.source]
    # A target's metrics (registered by any params with `targets` this process loaded)
    # come from the target's own measurement, not from Measurement.
    built_in = [m for m in all_metrics() if m.group not in ("user", TARGET_GROUP)]
    assert {m.name for m in built_in if not m.source} == {"min_layer_snr_db"}
    for metric in read:
        owner: type | None = Measurement
        for part in metric.source.split("."):
            assert owner is not None and dataclasses.is_dataclass(owner), metric.name
            owner = _attribute_type(owner, part)


def test_the_tables_and_the_card_read_their_metrics_from_the_catalogue():
    from mlflow_tflite.metrics import default_objectives, pareto_metrics, shown_in

    summary = ("size_bytes", "gzip_size_bytes", "accuracy", "accuracy_delta", "latency_p50_ms")
    assert shown_in("trials") == summary
    assert shown_in("summary") == (*summary, "latency_vs_fp32", "output_snr_db")
    assert shown_in("headline") == (*summary[:4], "agreement", "latency_p50_ms")
    assert pareto_metrics("cost") == ("size_bytes", "latency_p50_ms")
    assert pareto_metrics("quality") == ("accuracy",)
    assert default_objectives() == ("gzip_size_bytes",)


def test_a_metric_is_built_with_keywords():
    with pytest.raises(TypeError):
        Metric("test_positional", False)  # type: ignore[misc]
