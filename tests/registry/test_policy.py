"""The policy as pure functions: each constraint, each objective, ties, the closest variant."""

from __future__ import annotations

import pytest

from mlflow_tflite.config.promote import PromoteConfig
from mlflow_tflite.registry.policy import (
    Candidate,
    Verdict,
    against_champion,
    compare,
    constraint_failures,
    evaluate,
)
from tests.registry.flowruns import metrics


def target(**promote):
    return PromoteConfig.model_validate(promote).resolved_targets()[0]


def candidate(name: str, **overrides: float) -> Candidate:
    return Candidate(variant=name, run_id=f"run-{name}", metrics=metrics(**overrides))


@pytest.mark.parametrize(
    ("constraints", "overrides", "failed"),
    [
        ({"max_accuracy_drop": 0.02}, {"accuracy_delta": -0.03}, "max_accuracy_drop"),
        ({"max_accuracy_drop": 0.02}, {"accuracy_delta": -0.02}, None),
        ({"max_accuracy_drop": 0.02}, {"accuracy_delta": 0.01}, None),
        ({"min_agreement": 0.98}, {"agreement": 0.97}, "min_agreement"),
        ({"min_agreement": 0.98}, {"agreement": 0.98}, None),
        ({"max_latency_p50_ms": 2.0}, {"latency_p50_ms": 2.5}, "max_latency_p50_ms"),
        ({"max_latency_p90_ms": 2.0}, {"latency_p90_ms": 2.5}, "max_latency_p90_ms"),
        (
            {"max_latency_p50_ms": 2.0, "latency_delegate": "xnnpack"},
            {"latency_p50_ms": 1.0, "xnnpack__latency_p50_ms": 3.0},
            "max_latency_p50_ms",
        ),
        (
            {"max_latency_p50_ms": 2.0, "latency_delegate": "builtin"},
            {},
            "max_latency_p50_ms",  # no builtin/latency_p50_ms metric: cannot show it passes
        ),
        ({"max_size_bytes": 9_999}, {}, "max_size_bytes"),
        ({"max_size_bytes": 10_000}, {}, None),
        ({"max_gzip_size_bytes": 7_999}, {}, "max_gzip_size_bytes"),
        ({"integer_only": True}, {"integer_only": 0.0}, "integer_only"),
        ({"integer_only": True}, {}, None),
        ({"gpu_compatible": True}, {"gpu_compatible": 0.0}, "gpu_compatible"),
        ({"gpu_compatible": True}, {"gpu_compatible": 1.0}, None),
        ({"min_output_snr_db": 30.0}, {"output_snr_db": 29.9}, "min_output_snr_db"),
        ({"min_output_snr_db": 30.0}, {"output_snr_db": 30.0}, None),
        ({"min_output_snr_db": 30.0}, {}, "min_output_snr_db"),  # no fidelity measured
    ],
)
def test_each_constraint_gates_on_its_metric(constraints, overrides, failed) -> None:
    gates = target(constraints=constraints).constraints
    failures = constraint_failures(metrics(**overrides), gates)
    assert [f.constraint for f in failures] == ([failed] if failed else [])


def test_an_output_snr_failure_names_the_decibels() -> None:
    gates = target(constraints={"min_output_snr_db": 30}).constraints
    [failure] = constraint_failures(metrics(output_snr_db=21.44), gates)
    assert failure.message == "output SNR 21.4 dB < min_output_snr_db 30"


def test_failure_messages_name_the_numbers() -> None:
    gates = target(constraints={"max_accuracy_drop": 0.02, "max_size_bytes": 5_000}).constraints
    messages = [f.message for f in constraint_failures(metrics(accuracy_delta=-0.031), gates)]
    assert messages == [
        "accuracy drop 0.031 > max_accuracy_drop 0.02",
        "size_bytes 10,000 B > max_size_bytes 5,000",
    ]


CANDIDATES = [
    candidate("small", size_bytes=5_000, gzip_size_bytes=4_900, latency_p50_ms=3.0),
    candidate("gzips", size_bytes=6_000, gzip_size_bytes=2_000, latency_p50_ms=3.0),
    candidate("fast", size_bytes=9_000, latency_p50_ms=0.5, latency_p90_ms=2.0),
    candidate("tail", size_bytes=9_000, latency_p50_ms=0.9, xnnpack__latency_p90_ms=0.6),
    candidate("exact", size_bytes=20_000, accuracy=0.99),
]


@pytest.mark.parametrize(
    ("objective", "winner"),
    [
        (["size_bytes"], "small"),
        (["gzip_size_bytes"], "gzips"),
        (["latency_p50_ms"], "fast"),
        (["xnnpack/latency_p90_ms"], "tail"),
        (["accuracy"], "exact"),
    ],
)
def test_each_objective_picks_its_best(objective, winner) -> None:
    assert evaluate(CANDIDATES, target(objective=objective)).winner.variant == winner


def test_a_tie_goes_to_the_next_objective() -> None:
    tied = [candidate("a", latency_p50_ms=2.0), candidate("b", latency_p50_ms=1.0)]
    ranking = evaluate(tied, target(objective=["size_bytes", "latency_p50_ms"])).ranking
    assert [c.variant for c in ranking] == ["b", "a"]


def test_tie_tolerance_makes_near_values_tie() -> None:
    near = [
        candidate("a", size_bytes=10_000, accuracy=0.97),
        candidate("b", size_bytes=10_050, accuracy=0.98),
    ]
    strict = target(objective=["size_bytes", "accuracy"])
    loose = target(objective=["size_bytes", "accuracy"], tie_tolerance=0.01)
    assert evaluate(near, strict).winner.variant == "a"
    assert evaluate(near, loose).winner.variant == "b"


def test_a_full_tie_keeps_variant_name_order() -> None:
    tied = [candidate("zeta"), candidate("alpha")]
    assert [c.variant for c in evaluate(tied, target()).ranking] == ["alpha", "zeta"]


def test_a_missing_objective_metric_loses() -> None:
    assert compare({"size_bytes": 9.0}, {}, ["size_bytes"]) == (-1, "size_bytes")
    assert compare({}, {"size_bytes": 9.0}, ["size_bytes"]) == (1, "size_bytes")


def test_no_winner_names_every_failure_and_the_closest() -> None:
    policy = target(objective=["size_bytes"],
                    constraints={"max_accuracy_drop": 0.01, "max_size_bytes": 8_000})
    variants = [
        candidate("both", accuracy_delta=-0.05, size_bytes=9_000),
        candidate("big", size_bytes=12_000),
        candidate("lossy", accuracy_delta=-0.02, size_bytes=7_000),
    ]
    evaluation = evaluate(variants, policy)
    assert evaluation.winner is None
    assert {v: [f.constraint for f in fs] for v, fs in evaluation.failures.items()} == {
        "both": ["max_accuracy_drop", "max_size_bytes"],
        "big": ["max_size_bytes"],
        "lossy": ["max_accuracy_drop"],
    }
    # Fewest failed constraints (big, lossy), then the objective (size): lossy.
    assert evaluation.closest.variant == "lossy"
    assert evaluation.chosen.variant == "lossy"


def test_winner_at_least_as_good_replaces_the_champion() -> None:
    policy = target(objective=["size_bytes"])
    assert against_champion(metrics(size_bytes=9), metrics(size_bytes=10), policy).replace
    tie = against_champion(metrics(), metrics(), policy)
    assert tie.replace and "ties" in tie.reason
    worse = against_champion(metrics(size_bytes=11), metrics(size_bytes=10), policy)
    assert not worse.replace
    assert worse.reason == "the champion is better on size_bytes (10 B vs. 11 B)"


def test_a_champion_failing_current_constraints_is_replaced() -> None:
    policy = target(objective=["size_bytes"], constraints={"max_accuracy_drop": 0.01})
    verdict = against_champion(
        metrics(size_bytes=20), metrics(size_bytes=10, accuracy_delta=-0.05), policy
    )
    assert verdict.replace
    assert "max_accuracy_drop" in verdict.reason


def test_a_champion_missing_a_gated_metric_is_not_judged_broken() -> None:
    policy = target(objective=["size_bytes"], constraints={"gpu_compatible": True})
    assert not against_champion(metrics(size_bytes=20), {"size_bytes": 10}, policy).replace


def test_decisions_judge_the_selection_split_and_the_test_split_is_only_reported() -> None:
    # Test-split figures that would decide the other way: the selection split's decide.
    chosen = candidate("a", accuracy=0.90, accuracy_delta=-0.05,
                       **{"selection/accuracy": 0.97, "selection/accuracy_delta": -0.01})
    other = candidate("b", accuracy=0.99, accuracy_delta=0.0,
                      **{"selection/accuracy": 0.95, "selection/accuracy_delta": -0.03})
    evaluation = evaluate([chosen, other], target(objective=["accuracy"],
                                                  constraints={"max_accuracy_drop": 0.02}))
    assert [c.variant for c in evaluation.ranking] == ["a"]
    assert evaluation.failures["b"][0].message == (
        "accuracy drop 0.03 > max_accuracy_drop 0.02")
    # A champion without selection figures (registered before them) is compared on test.
    old = {"accuracy": 0.98, "accuracy_delta": 0.0}
    assert compare(chosen.metrics, old, ["accuracy"]) == (1, "accuracy")
    verdict = against_champion(other.metrics, chosen.metrics,
                               target(objective=["accuracy"]))
    assert verdict == Verdict(False, "the champion is better on selection/accuracy "
                                     "(0.97 vs. 0.95)")


def test_a_conservative_gate_refuses_on_the_intervals_end_and_says_so() -> None:
    straddling = candidate("a", accuracy_delta=-0.01, accuracy_delta_ci_low=-0.03,
                           accuracy_delta_ci_high=0.01)
    conservative = target(constraints={"max_accuracy_drop": 0.02, "gate_on": "conservative"})
    [failure] = evaluate([straddling], conservative).failures["a"]
    assert failure.message == ("accuracy drop 0.03 > max_accuracy_drop 0.02 "
                               "(conservative: the end of its 95% interval)")
    lenient = target(constraints={"max_accuracy_drop": 0.005, "gate_on": "lenient"})
    assert evaluate([straddling], lenient).winner.variant == "a"
    point = target(constraints={"max_accuracy_drop": 0.005})
    assert evaluate([straddling], point).winner is None
