"""The `search` section: the compression space, objectives, constraints, budget, sampler.

The space itself (`search.space`) is a mapping per technique and `convert` whose values
are ranges (`{low, high, step, log}`), choices (`{choices: [...]}`) or fixed values;
`mlflow_tflite.search.space` parses and checks it (key paths in every error) and turns
it into Optuna `suggest_*` calls. Objective and constraint names are the `promote`
section's, so a search and a promotion speak about the same metrics.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from mlflow_tflite.config.promote import (
    DEFAULT_OBJECTIVE,
    ConstraintsConfig,
    ObjectiveName,
    _check_objective,
)
from mlflow_tflite.section import Section

SAMPLERS = ("tpe", "nsga2", "random")


class BudgetConfig(Section):
    """How much to search: trials and/or wall-clock minutes, whichever runs out first.

    Both count over the whole study, so a resumed search spends only what is left and a
    finished one is not run again (raise them to search further).
    """

    trials: int | None = Field(40, ge=1, description="Finished trials the study may hold.")
    minutes: float | None = Field(15.0, gt=0.0, description="Wall-clock minutes of searching.")

    @model_validator(mode="after")
    def _some_limit(self) -> BudgetConfig:
        if self.trials is None and self.minutes is None:
            raise ValueError("set trials, minutes or both; a search needs a budget")
        return self


class PrunerConfig(Section):
    """Stop a trial whose fine-tune epochs show it is not worth finishing.

    `threshold` (the default) stops a trial whose validation accuracy after an epoch falls
    `max_val_drop` below the baseline's. `successive_halving` and `hyperband` are Optuna's
    multi-fidelity pruners: the resource is the trial's cumulative fine-tune epoch, and a
    trial continues past a rung only when its validation accuracy there is among the best
    1/`reduction_factor` of the trials that reached it; `max_val_drop` is then a floor.
    """

    enabled: bool = Field(True, description="false: no trial is pruned.")
    type: Literal["threshold", "successive_halving", "hyperband"] = Field(
        "threshold", description="The rule: threshold, successive_halving or hyperband.")
    max_val_drop: float | None = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Prune when validation accuracy after an epoch is more than this below "
        "the baseline's (later epochs and QAT recover some, so above max_accuracy_drop); "
        "null: no floor (successive_halving and hyperband only).",
    )
    min_resource: int | None = Field(
        None, ge=1, description="Epochs of the first rung; null: Optuna's default.")
    reduction_factor: int | None = Field(
        None, ge=2, description="1/this of a rung's trials go on; null: Optuna's default.")
    screen: bool = Field(
        False, description="With one size objective (gzip_size_bytes or size_bytes): build "
        "each new trial first on two batches, and stop it before its fine-tunes when that "
        "model is larger than the smallest feasible trial so far (its size does not depend "
        "on how well it trains). Off by default: on MobileNetV2 a screen cost minutes of "
        "graph tracing and stopped no trial (bench/RESULTS.md).")
    screen_margin: float = Field(
        0.05, ge=0.0, le=1.0, description="How much larger than the smallest feasible "
        "trial a screened model may be and still go on (the screened size is the full "
        "build's within a few percent).")

    @model_validator(mode="after")
    def _rule_keys(self) -> PrunerConfig:
        if self.type == "threshold":
            if self.max_val_drop is None:
                raise ValueError("max_val_drop: null leaves type threshold nothing to judge by")
            for key in ("min_resource", "reduction_factor"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key}: only for type successive_halving or hyperband")
        return self

    @property
    def multi_fidelity(self) -> bool:
        """Whether an Optuna pruner ranks the trials at rungs (reports go to the study)."""
        return self.enabled and self.type != "threshold"


class SearchConfig(Section):
    """`mlflow-tflite search` (and `run` when `enabled`): Optuna over the space."""

    enabled: bool = Field(False, description="`mlflow-tflite run` searches after the variants.")
    space: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per technique (prune, cluster, qat) and convert: key -> range, "
        "choices or fixed value; `use` switches a technique on or off.",
    )
    objective: list[ObjectiveName] = Field(
        list(DEFAULT_OBJECTIVE),
        min_length=1,
        description="Objectives (promote names); several give a Pareto front.",
    )
    constraints: ConstraintsConfig | None = Field(
        None, description="Feasibility gates (promote names); default: promote.constraints."
    )
    promote_target: str | None = Field(
        None,
        description="Promote the front by this `promote.targets` entry (its objective, "
        "constraints and aliases); default: by the search's own objective and constraints, "
        "aliases champion/challenger.",
    )
    warm_start: bool = Field(
        True,
        description="A new study's first trials are the `variants` that lie in the space "
        "(built already when `run` ran: no fine-tuning).",
    )
    budget: BudgetConfig = BudgetConfig()
    sampler: Literal["tpe", "nsga2", "random"] = "tpe"
    seed: int = Field(42, ge=0)
    parallel: int | None = Field(
        None, ge=1, description="Trials in flight at once; default: runner.workers."
    )
    storage: str | None = Field(
        None,
        description="Optuna storage URL; default: optuna.db beside a SQLite MLflow store "
        "(else in the working directory). A PostgreSQL URL shares a study with a team.",
    )
    pruner: PrunerConfig = PrunerConfig()

    @model_validator(mode="after")
    def _objective_names(self) -> SearchConfig:
        _check_objective(list(self.objective))
        if self.pruner.multi_fidelity and len(self.objective) > 1:
            raise ValueError(f"pruner.type {self.pruner.type} needs one objective (Optuna "
                             f"cannot prune multi-objective trials); got {list(self.objective)}")
        return self
