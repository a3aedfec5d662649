"""Objectives, constraints and early stopping of a trial, from its metrics (pure functions).

Objective and constraint names are the `promote` section's, so a feasible trial is one
the promotion policy would let through. Optuna's constraints API wants one number per
constraint, feasible when <= 0; `constraint_values` gives the signed distance to each
limit, which is what lets TPE and NSGA-II steer away from infeasible regions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from mlflow_tflite.config.promote import ConstraintsConfig
from mlflow_tflite.metrics import higher_is_better
from mlflow_tflite.registry.policy import constraint_failures

# The `trial_state` tag of a trial's child run.
COMPLETE = "complete"
PRUNED = "pruned"
INFEASIBLE = "infeasible"
FAILED = "failed"
TRIAL_STATES = (COMPLETE, PRUNED, INFEASIBLE, FAILED)
# A missing metric violates its constraint by this much (it cannot show it passes).
MISSING = 1e9


def directions(objective: Sequence[str]) -> list[str]:
    """Optuna study directions for the objective names."""
    return ["maximize" if higher_is_better(name) else "minimize" for name in objective]


def objective_values(metrics: Mapping[str, float], objective: Sequence[str]) -> list[float] | None:
    """The trial's values in objective order, or None when a metric is missing."""
    values = [metrics.get(name) for name in objective]
    if any(v is None or math.isnan(v) for v in values):
        return None
    return [float(v) for v in values]


def constraint_values(metrics: Mapping[str, float], constraints: ConstraintsConfig) -> list[float]:
    """One number per set constraint, <= 0 when it holds (Optuna's convention).

    Each is the gate's own distance past its limit (`mlflow_tflite.metrics.Gate.excess`),
    the number the promotion policy judges by; sizes and latencies are relative to their
    limit, so no single constraint dominates the sum NSGA-II and TPE rank infeasible
    trials by.
    """
    values = []
    for gate in constraints.gates():
        value = metrics.get(gate.metric)
        values.append(MISSING if value is None or math.isnan(value) else gate.excess(value))
    return values


def feasible(metrics: Mapping[str, float], constraints: ConstraintsConfig) -> bool:
    """Whether the trial passes every constraint, judged as the promotion policy judges."""
    return not constraint_failures(metrics, constraints)


def failure_messages(metrics: Mapping[str, float], constraints: ConstraintsConfig) -> list[str]:
    """The constraints a trial fails, as the promotion decision words them."""
    return [f.message for f in constraint_failures(metrics, constraints)]


def should_prune(val_accuracy: float | None, baseline_val_accuracy: float | None,
                 max_val_drop: float) -> bool:
    """True when a fine-tune epoch left validation accuracy more than `max_val_drop` below
    the baseline's: the later epochs of the trial are not worth running."""
    if val_accuracy is None or baseline_val_accuracy is None:
        return False
    return val_accuracy < baseline_val_accuracy - max_val_drop
