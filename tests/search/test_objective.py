"""Objectives, constraint values (Optuna's <= 0 feasible), the pruner rule, the Pareto front."""

from __future__ import annotations

from mlflow_tflite.config.promote import ConstraintsConfig
from mlflow_tflite.search import objective
from mlflow_tflite.search.results import closest, pareto_front
from mlflow_tflite.search.trial import TrialResult


def test_directions_follow_the_promote_names() -> None:
    assert objective.directions(["gzip_size_bytes", "accuracy", "xnnpack/latency_p50_ms"]) == [
        "minimize", "maximize", "minimize"]


def test_constraint_values_are_signed_distances_to_each_limit() -> None:
    constraints = ConstraintsConfig(max_accuracy_drop=0.01, max_gzip_size_bytes=20_000,
                                    integer_only=True)
    ok = {"accuracy_delta": -0.005, "gzip_size_bytes": 15_000, "integer_only": 1.0}
    values = objective.constraint_values(ok, constraints)
    assert list(values) == ["max_accuracy_drop", "max_gzip_size_bytes", "integer_only"]
    assert all(v <= 0 for v in values.values())
    assert objective.feasible(ok, constraints)
    bad = {"accuracy_delta": -0.03, "gzip_size_bytes": 30_000}
    drop, size, integer = objective.constraint_values(bad, constraints).values()
    assert round(drop, 6) == 0.02 and size == 0.5 and integer == objective.MISSING
    assert objective.failure_messages(bad, constraints)[0] == (
        "accuracy drop 0.03 > max_accuracy_drop 0.01")


def test_a_trial_is_judged_and_ranked_on_the_selection_split_as_the_policy_judges() -> None:
    constraints = ConstraintsConfig(max_accuracy_drop=0.01)
    # Passes on test, fails on selection: infeasible for the search and the policy alike.
    trial = {"accuracy": 0.99, "accuracy_delta": 0.0, "selection/accuracy": 0.95,
             "selection/accuracy_delta": -0.02}
    assert round(objective.constraint_values(trial, constraints)["max_accuracy_drop"], 6) \
        == 0.01
    assert not objective.feasible(trial, constraints)
    assert objective.objective_values(trial, ["accuracy"]) == [0.95]


def test_a_trial_is_pruned_only_below_the_baseline_minus_the_allowed_drop() -> None:
    assert objective.should_prune(0.80, 0.90, 0.05)
    assert not objective.should_prune(0.86, 0.90, 0.05)
    assert not objective.should_prune(None, 0.90, 0.05)


def _result(number: int, gzip: float, accuracy: float, state: str = objective.COMPLETE,
            delta: float = 0.0) -> TrialResult:
    return TrialResult(number, {}, state, values=[gzip, accuracy],
                       metrics={"gzip_size_bytes": gzip, "accuracy": accuracy,
                                "accuracy_delta": delta})


def test_the_front_keeps_the_feasible_trials_no_other_beats() -> None:
    trials = [_result(0, 100, 0.95), _result(1, 50, 0.94), _result(2, 60, 0.93),
              _result(3, 10, 0.99, state=objective.INFEASIBLE), _result(4, 100, 0.95)]
    front = pareto_front(trials, ["gzip_size_bytes", "accuracy"])
    assert [r.number for r in front] == [0, 1, 4]


def test_without_a_feasible_trial_the_closest_fails_fewest_constraints() -> None:
    constraints = ConstraintsConfig(max_accuracy_drop=0.01, max_gzip_size_bytes=40)
    trials = [_result(0, 100, 0.9, objective.INFEASIBLE, delta=-0.05),
              _result(1, 50, 0.95, objective.INFEASIBLE, delta=0.0),
              _result(2, 45, 0.95, objective.INFEASIBLE, delta=0.0)]
    trial, failures = closest(trials, constraints, ["gzip_size_bytes", "accuracy"])
    assert trial.number == 2
    assert failures == ["gzip_size_bytes 45 B > max_gzip_size_bytes 40"]


def test_the_pruner_waits_for_the_last_prune_epoch_and_judges_every_later_one() -> None:
    from mlflow_tflite.config import VariantConfig

    variant = VariantConfig.model_validate({
        "name": "v", "compress": {"prune": {"final_sparsity": 0.9, "epochs": 3},
                                  "cluster": {"clusters": 8, "epochs": 2}}})
    assert [objective.judged("prune", e, variant) for e in (1, 2, 3)] == [False, False, True]
    assert objective.judged("cluster", 1, variant) and objective.judged("qat", 1, variant)
    # Recovery epochs (the mask held) come after the mask updates: judged after them.
    recovering = VariantConfig.model_validate({**variant.model_dump(), "compress": {
        "prune": {"final_sparsity": 0.9, "epochs": 3, "recover_epochs": 2}}})
    assert [objective.judged("prune", e, recovering) for e in range(1, 6)] == [
        False, False, False, False, True]
