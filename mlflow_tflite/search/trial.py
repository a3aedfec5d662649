"""One search trial: build (or reuse) the sampled variant, measure it, log its child run.

The Optuna side (ask, tell, constraints) stays with the caller, so a trial runs on any
worker the flow's task runner has; only a multi-fidelity pruner's epoch reports reach the
study's database from the worker (`mlflow_tflite.search.fidelity`). The variant
goes through the same pipeline steps as a params.yaml variant: its `.tflite` and its
measurement live in the artifact store under content keys, so a trial that samples a
variant already built is not rebuilt.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from mlflow_tflite import tracking
from mlflow_tflite.config import Params, VariantConfig
from mlflow_tflite.errors import first_line
from mlflow_tflite.pipeline import ArtifactStore, handles, isolate, keys, measuring, steps
from mlflow_tflite.search import fidelity, objective, screen
from mlflow_tflite.tracking import FAILED, VariantRecord
from mlflow_tflite.tracking.layout import TRIAL_ROLE, TRIAL_STATE_TAG, TRIAL_TAG


class TrialPruned(Exception):
    """Raised from the fine-tune epoch hook: the trial's accuracy cannot recover."""


@dataclass
class TrialResult:
    """What the flow tells Optuna and shows in the tables; picklable."""

    number: int
    variant: dict[str, Any]
    state: str
    metrics: dict[str, float] = field(default_factory=dict)
    values: list[float] | None = None
    constraints: dict[str, float] = field(default_factory=dict)
    sampled: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    error: str | None = None
    reused: bool = False
    screened: float | None = None
    compute_s: float = 0.0
    log_s: float = 0.0
    wait_s: float = 0.0


@dataclass(frozen=True)
class TrialContext:
    """What every trial of one search shares; picklable, so a trial runs on any worker.

    Attributes:
        params: the validated params (`search`, `benchmark`, `promote` are read).
        baseline, data, store: the flow's baseline, prepared data and artifact store.
        tracking_uri: the MLflow store the trials log to.
        parent_run_id: the search's parent run.
        tags: tags every child gets (`data_version`, `git_commit`).
        input_example: logged with the models.
        study_name, storage: the Optuna study a multi-fidelity pruner's trials report their
            epochs to (`mlflow_tflite.search.fidelity`); None reports nothing.
    """

    params: Params
    baseline: handles.Baseline
    data: handles.PreparedData
    store: ArtifactStore
    tracking_uri: str
    parent_run_id: str
    tags: dict[str, str]
    input_example: Any = None
    study_name: str | None = None
    storage: str | None = None


def trial_name(number: int) -> str:
    """The child run and variant name of trial `number`."""
    return f"trial-{number}"


def failed_result(number: int, variant: VariantConfig, error: BaseException) -> TrialResult:
    """A trial whose task itself failed (its logging, a worker lost): told FAIL, no run."""
    return TrialResult(number, variant.model_dump(mode="json"), objective.FAILED,
                       error=first_line(error, with_type=True))


def baseline_val_accuracy(baseline: handles.Baseline) -> float | None:
    """The baseline's validation accuracy, the reference the pruner compares to: the last
    epoch's when it was trained, else its fp32 model's measured once on the validation
    split (`train.epochs: 0`, a model used as is)."""
    curve = baseline.history.get("val_accuracy") or []
    return curve[-1] if curve else baseline.val_accuracy


def _screen(variant: VariantConfig, context: TrialContext) -> float | None:
    """The trial's screened size (`search.pruner.screen`), None when it is not screened (screen
    off, nothing feasible yet, or its build already stored); raises TrialPruned when that
    size cannot beat the smallest feasible trial."""
    params, baseline = context.params, context.baseline
    metric = screen.screened_metric(params)
    if metric is None or steps.stored_build(context.store,
                                            keys.build_key(baseline.key, variant)):
        return None
    # Read now, under the lock: the trials told while this one waited count. One that
    # released the lock a moment ago may not be told yet (the flow tells after its task).
    best = screen.best_so_far(params, context.study_name, context.storage, metric)
    if best is None:
        return None
    estimate = isolate.call(f"screen-{variant.name}", screen.screened_size, variant, params,
                            baseline, context.data, metric)
    reason = screen.verdict(estimate, best, metric, params.search.pruner.screen_margin)
    if reason is not None:
        stopped = TrialPruned(reason)
        setattr(stopped, handles.STEP_ATTRIBUTE, "screen")
        raise stopped
    return float(estimate)


def _build_and_measure(
    variant: VariantConfig, params: Params, baseline: handles.Baseline,
    data: handles.PreparedData, store: ArtifactStore, on_epoch: Any,
) -> tuple[handles.Build, dict[str, Any], bool]:
    key = keys.build_key(baseline.key, variant)
    mkey = keys.measure_key(key, baseline.key, params)
    build = steps.stored_build(store, key)
    reused = build is not None
    if build is None:
        build = isolate.call(f"build-{variant.name}", steps.build, variant, params, baseline,
                             data, store, key, on_epoch=on_epoch)
    measurement = measuring.stored_measurement(store, mkey)
    if measurement is None:
        measurement = isolate.call(f"measure-{variant.name}", measuring.measure, variant, params,
                                   build, baseline, data, store, mkey)
    return build, measurement, reused


def run_trial(
    number: int,
    variant: VariantConfig,
    sampled: dict[str, Any],
    context: TrialContext,
    *,
    lock: Any = None,
) -> TrialResult:
    """Run and log one trial; a failure fails only this trial (state `failed`).

    Args:
        number: the Optuna trial number.
        variant: the sampled variant (named `trial-<number>`).
        sampled: the values Optuna suggested, logged as the child run's params.
        context: what the search's trials share (params, baseline, data, store, runs).
        lock: held while building and measuring (the threads runner's COMPUTE_LOCK).

    Returns:
        The TrialResult: state `complete`, `infeasible`, `pruned` or `failed`, the objective
        values and constraint values for Optuna, and timings.
    """
    params, baseline = context.params, context.baseline
    search = params.search
    constraints = objective.search_constraints(params)
    reference = baseline_val_accuracy(baseline)
    curve: list[float] = []
    pruner = search.pruner
    counter, epochs = fidelity.EpochCounter(), fidelity.total_epochs(variant)
    reporter = fidelity.Reporter(params, context.study_name, context.storage, number)

    def on_epoch(step: str, epoch: int, logs: dict[str, float]) -> None:
        value = logs.get("val_accuracy")
        if value is not None:
            curve.append(float(value))
        resource = counter(step, epoch)
        if not pruner.enabled or not objective.judged(step, epoch, variant):
            return
        # The threshold is the rule, or a floor under the multi-fidelity pruner's rungs.
        if pruner.max_val_drop is not None and objective.should_prune(
                value, reference, pruner.max_val_drop):
            raise TrialPruned(
                f"after {step} epoch {epoch}: val_accuracy {value:.4f} is more than "
                f"{pruner.max_val_drop:g} below the baseline's {reference:.4f}"
            )
        reason = None if value is None else reporter.prune(resource, float(value),
                                                           last=resource >= epochs)
        if reason is not None:
            raise TrialPruned(f"after {step} epoch {epoch}: {reason}")

    result = TrialResult(number, variant.model_dump(mode="json"), objective.COMPLETE,
                         sampled=sampled)
    record = VariantRecord(name=variant.name, technique=variant.technique,
                           quantization=variant.convert.quantization)
    asked = time.perf_counter()
    with lock if lock is not None else contextlib.nullcontext():
        started = time.perf_counter()
        result.wait_s = started - asked
        try:
            result.screened = _screen(variant, context)
            build, measurement, result.reused = _build_and_measure(
                variant, params, baseline, context.data, context.store, on_epoch)
        except TrialPruned as pruned:
            result.state, result.error = objective.PRUNED, str(pruned)
            record.failed_step = steps.failed_step(pruned, "compress")
        except Exception as error:  # noqa: BLE001 - a failing trial fails only itself
            result.state = objective.FAILED
            result.error = f"{type(error).__name__}: {error}".strip().splitlines()[0]
            record.failed_step = steps.failed_step(error, "build")
            record.traceback = "".join(traceback.format_exception(error))
        result.compute_s = time.perf_counter() - started

    if result.state == objective.COMPLETE:
        metrics = dict(measurement["metrics"])
        result.metrics = metrics
        result.values = objective.objective_values(metrics, search.objective)
        result.constraints = objective.constraint_values(metrics, constraints)
        if result.values is None:
            result.state = objective.FAILED
            result.error = f"a metric of the objective {search.objective} is missing"
        elif not objective.feasible(metrics, constraints):
            result.state = objective.INFEASIBLE
        record.metrics, record.delegate = metrics, measurement.get("delegate", "")
        record.measurement, record.tflite_path = measurement, build.tflite_path
        record.reused = result.reused
    else:
        record.status, record.error = FAILED, result.error

    logged = time.perf_counter()
    trial_tags = {**context.tags, TRIAL_TAG: str(number), TRIAL_STATE_TAG: result.state}
    result.run_id = tracking.log_variant(context.parent_run_id, record, common_tags=trial_tags,
                                         input_example=context.input_example, role=TRIAL_ROLE,
                                         params=sampled, log_model=False,
                                         layer_plot=False)
    if result.state == objective.PRUNED:
        _log_pruned(result.run_id, curve)
    result.log_s = time.perf_counter() - logged
    return result


def _log_pruned(run_id: str, curve: list[float]) -> None:
    """A pruned trial keeps its validation curve and ends KILLED, not FAILED."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient()
    now = int(time.time() * 1000)
    if curve:
        client.log_batch(run_id, metrics=[Metric("val_accuracy", v, now, step)
                                          for step, v in enumerate(curve, start=1)])
    client.set_terminated(run_id, "KILLED")
