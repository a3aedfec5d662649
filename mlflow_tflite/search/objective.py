"""Objectives, constraints and early stopping of a trial, from its metrics (pure functions).

Objective and constraint names are the `promote` section's, so a feasible trial is one
the promotion policy would let through. Optuna's constraints API wants one number per
constraint, feasible when <= 0; `constraint_values` gives the signed distance to each
limit, which is what lets TPE and NSGA-II steer away from infeasible regions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mlflow_tflite.config import Params, VariantConfig
from mlflow_tflite.config.promote import ConstraintsConfig, PromoteConfig
from mlflow_tflite.metrics import decision_value, gated_value, higher_is_better
from mlflow_tflite.plugins.technique import get_technique
from mlflow_tflite.registry.policy import constraint_failures

# The `trial_state` tag of a trial's child run.
COMPLETE = "complete"
PRUNED = "pruned"
INFEASIBLE = "infeasible"
FAILED = "failed"
TRIAL_STATES = (COMPLETE, PRUNED, INFEASIBLE, FAILED)
# A missing metric violates its constraint by this much (it cannot show it passes).
MISSING = 1e9


def search_constraints(params: Params) -> ConstraintsConfig:
    """The gates a trial must pass: `search.constraints`, else `promote.constraints`."""
    return params.search.constraints or params.promote.constraints


def promotion(params: Params) -> PromoteConfig:
    """The policy a search's front is promoted by: one target ranked by the search's own
    objective and gated by its constraints (aliases `champion`/`challenger`), or the
    `promote.targets` entry `search.promote_target` names, as it stands.

    So the trial the search found best is the one promoted: judged by `promote.objective`
    instead, a front that is optimal on gzip size could lose to a champion chosen by
    another metric.
    """
    promote = params.promote
    name = params.search.promote_target
    if name is not None:
        return promote.model_copy(update={"targets": {name: promote.targets[name]}})
    return promote.model_copy(update={"objective": list(params.search.objective),
                                      "constraints": search_constraints(params),
                                      "targets": {}})


def directions(objective: Sequence[str]) -> list[str]:
    """Optuna study directions for the objective names."""
    return ["maximize" if higher_is_better(name) else "minimize" for name in objective]


def objective_values(metrics: Mapping[str, float], objective: Sequence[str]) -> list[float] | None:
    """The trial's values in objective order, or None when a metric is missing."""
    values = [decision_value(metrics, name) for name in objective]
    if any(v is None or math.isnan(v) for v in values):
        return None
    return [float(v) for v in values]


def constraint_values(metrics: Mapping[str, float],
                      constraints: ConstraintsConfig) -> dict[str, float]:
    """Constraint key -> one number per set constraint, <= 0 when it holds (Optuna's
    convention; `trial.set_constraint` takes them by name).

    Each is the gate's own distance past its limit (`mlflow_tflite.constraints.Gate.excess`),
    the number the promotion policy judges by; sizes and latencies are relative to their
    limit, so no single constraint dominates the sum NSGA-II and TPE rank infeasible
    trials by.
    """
    values = {}
    for gate in constraints.gates():
        value = gated_value(metrics, gate.metric, constraints.judged_on(gate))
        values[gate.gate.key] = (MISSING if value is None or math.isnan(value)
                                 else gate.excess(value))
    return values


def set_constraints(trial: Any, values: Mapping[str, float] | Sequence[float]) -> None:
    """Record a trial's constraint values on it (`trial.set_constraint`, before tell), where
    every Optuna sampler reads them; a failed or pruned trial records none."""
    items = values.items() if isinstance(values, Mapping) else enumerate(values)
    for name, value in items:
        trial.set_constraint(str(name), value)


def feasible(metrics: Mapping[str, float], constraints: ConstraintsConfig) -> bool:
    """Whether the trial passes every constraint, judged as the promotion policy judges."""
    return not constraint_failures(metrics, constraints)


def failure_messages(metrics: Mapping[str, float], constraints: ConstraintsConfig) -> list[str]:
    """The constraints a trial fails, as the promotion decision words them."""
    return [f.message for f in constraint_failures(metrics, constraints)]


def judged(step: str, epoch: int, variant: VariantConfig) -> bool:
    """Whether the pruner judges the trial after `epoch` of compress `step`: as the
    technique says (`Technique.judged`: a prune step after its last epoch, while its masks
    move and recover accuracy it is not), else after each epoch."""
    technique = get_technique(step)
    cfg = getattr(variant.compress, step, None)
    return technique.judged is None or cfg is None or technique.judged(cfg, epoch)


def should_prune(val_accuracy: float | None, baseline_val_accuracy: float | None,
                 max_val_drop: float) -> bool:
    """True when a fine-tune epoch left validation accuracy more than `max_val_drop` below
    the baseline's: the later epochs of the trial are not worth running."""
    if val_accuracy is None or baseline_val_accuracy is None:
        return False
    return val_accuracy < baseline_val_accuracy - max_val_drop
