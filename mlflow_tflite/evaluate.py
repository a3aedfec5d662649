"""Your own metrics (`evaluate` in params.yaml): functions of a variant's predictions.

An evaluator is a built-in name (`mae`, `rmse`, `top5_accuracy`) or a `module:function`
called once per variant as `function(predict, x, y)`: `predict` runs that variant's
`.tflite` exactly as the pyfunc's `predict` does (float in, dequantized out; a dict for
several outputs), `x` and `y` are the evaluation (test) split (`y` is None without
labels). It returns `{metric name: value}` and declares each name's direction in its
`greater_is_better` attribute, read when the params load so that a promotion or search
key naming the metric is checked before any work:

    def tail_error(predict, x, y):
        errors = np.abs(predict(x)[:, 0] - y)
        return {"p95_abs_error": float(np.quantile(errors, 0.95)),
                "abs_error": errors}       # per example: its mean is logged, with an interval

    tail_error.greater_is_better = {"p95_abs_error": False, "abs_error": False}

A value is a number, or one number per example (a 1-D array as long as `y`) for a metric
that is their mean: the mean is logged, and the pipeline adds a 95% paired-bootstrap
interval (`<name>_ci_low/high`, `measure.uncertainty.means_with_intervals`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlflow_tflite._discovery import import_function
from mlflow_tflite.errors import first_line
from mlflow_tflite.metrics import Metric, metric_names, register_metric

Predict = Callable[[Any], Any]
# A metric's value: a number, or one number per example (a metric that is their mean).
Value = float | np.ndarray
ATTRIBUTE = "greater_is_better"
# The catalogue group of the metrics `evaluate` functions declare.
USER_GROUP = "user"


class EvaluateError(ValueError):
    """An evaluator that cannot be loaded, or that failed on a variant; one line."""


def _regression(predict: Predict, x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
    if y is None:
        raise ValueError("needs labelled data (the evaluation split has no labels)")
    predicted = np.asarray(predict(x), dtype=np.float64)
    target = np.asarray(y, dtype=np.float64)
    if predicted.size != target.size:
        raise ValueError(f"predictions of shape {predicted.shape} do not match labels of "
                         f"shape {target.shape}")
    return predicted.reshape(-1) - target.reshape(-1)


def mae(predict: Predict, x: np.ndarray, y: np.ndarray | None) -> dict[str, Value]:
    """Mean absolute error against regression labels (per example: its mean is logged)."""
    errors = np.abs(_regression(predict, x, y))
    return {"mae": errors.reshape(len(y), -1).mean(axis=1)}  # one row of labels per example


def rmse(predict: Predict, x: np.ndarray, y: np.ndarray | None) -> dict[str, float]:
    """Root mean squared error against regression labels."""
    return {"rmse": float(np.sqrt(np.mean(_regression(predict, x, y) ** 2)))}


def top5_accuracy(predict: Predict, x: np.ndarray, y: np.ndarray | None) -> dict[str, Value]:
    """Share of samples whose label is among the five highest scores (per example: 0/1)."""
    if y is None:
        raise ValueError("needs labelled data (the evaluation split has no labels)")
    scores = np.asarray(predict(x))
    labels = np.asarray(y)
    if labels.ndim > 1 and labels.shape[-1] > 1:
        labels = labels.argmax(-1)
    top = np.argsort(-scores, axis=-1)[:, :5]
    return {"top5_accuracy": np.any(top == labels.reshape(-1, 1), axis=-1).astype(np.float64)}


mae.greater_is_better = {"mae": False}  # type: ignore[attr-defined]
rmse.greater_is_better = {"rmse": False}  # type: ignore[attr-defined]
top5_accuracy.greater_is_better = {"top5_accuracy": True}  # type: ignore[attr-defined]
BUILTINS: dict[str, Callable[..., dict[str, Value]]] = {
    "mae": mae, "rmse": rmse, "top5_accuracy": top5_accuracy,
}


@dataclass(frozen=True)
class Evaluator:
    """One `evaluate` entry: its spec, function and the metrics it declares."""

    spec: str
    function: Callable[..., Any]
    greater_is_better: dict[str, bool]

    def __call__(self, predict: Predict, x: Any, y: np.ndarray | None) -> dict[str, Value]:
        """The declared metrics of one variant: numbers, or per-example values (1-D float64
        arrays, as long as `y` when there are labels).

        Raises:
            EvaluateError: the function raised, or returned something other than a number
                or finite per-example numbers for each declared name.
        """
        try:
            found = self.function(predict, x, y)
        except Exception as error:  # the user's code: any failure fails this variant only
            raise EvaluateError(f"evaluate {self.spec}: {first_line(error, with_type=True)}"
                                ) from error
        if not isinstance(found, dict) or set(found) != set(self.greater_is_better):
            got = sorted(found) if isinstance(found, dict) else type(found).__name__
            raise EvaluateError(f"evaluate {self.spec}: returned {got}, expected a dict "
                                f"with {sorted(self.greater_is_better)}")
        return {name: self._value(name, value, y) for name, value in found.items()}

    def _value(self, name: str, value: Any, y: np.ndarray | None) -> Value:
        """`value` as a float or a 1-D float64 array of finite per-example values."""
        where = f"evaluate {self.spec}: {name}"
        if isinstance(value, list | tuple | np.ndarray) and np.ndim(value) > 0:
            try:
                values = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise EvaluateError(f"{where} holds values that are not numbers") from None
            if values.ndim != 1 or not len(values):
                raise EvaluateError(f"{where} has shape {values.shape}: expected a number "
                                    "or one number per example")
            if y is not None and len(values) != len(y):
                raise EvaluateError(f"{where} has {len(values)} values for {len(y)} examples")
            if not np.all(np.isfinite(values)):
                raise EvaluateError(f"{where} has values that are not finite")
            return values
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise EvaluateError(f"{where} is {value!r}, not a number") from None
        if not math.isfinite(number):
            raise EvaluateError(f"{where} is {number}")
        return number


def load_evaluators(specs: list[str]) -> list[Evaluator]:
    """Load every `evaluate` entry and register its metrics in the catalogue, so that
    promotion and search keys may name them (`max_mae`, `objective: [mae]`).

    Raises:
        EvaluateError: see `load_evaluator`; or two entries declare the same metric.
    """
    evaluators = [load_evaluator(spec) for spec in specs]
    seen: dict[str, str] = {}
    for evaluator in evaluators:
        for name, better in evaluator.greater_is_better.items():
            if name in seen:
                raise EvaluateError(f"{evaluator.spec}: metric {name!r} is also declared by "
                                    f"{seen[name]}")
            seen[name] = evaluator.spec
            try:
                register_metric(Metric(name=name, higher_is_better=better, label=name,
                                       card=f"{name} (evaluate)",
                                       group=USER_GROUP, objective=True))
            except ValueError as error:
                raise EvaluateError(f"{evaluator.spec}: {error}") from None
    return evaluators


def load_evaluator(spec: str) -> Evaluator:
    """The evaluator `spec` names: a built-in, or `module:function` with its directions.

    Raises:
        EvaluateError: unknown built-in, module or function, or a missing or malformed
            `greater_is_better` declaration.
    """
    if spec in BUILTINS:
        function = BUILTINS[spec]
    elif ":" in spec:
        try:
            function = import_function(spec)
        except LookupError as error:
            raise EvaluateError(str(error)) from None
    else:
        raise EvaluateError(f"{spec!r}: expected a built-in ({', '.join(BUILTINS)}) or "
                            "module:function")
    declared = getattr(function, ATTRIBUTE, None)
    if not isinstance(declared, dict) or not declared:
        raise EvaluateError(f"{spec}: declare the metrics it returns and their direction, "
                            f"e.g. {function.__name__}.{ATTRIBUTE} = {{'mae': False}}")
    for name, better in declared.items():
        if not isinstance(name, str):
            raise EvaluateError(f"{spec}: metric name {name!r} is not a string")
        if not isinstance(better, bool):
            raise EvaluateError(f"{spec}: {ATTRIBUTE}[{name!r}] must be true or false")
        if name in metric_names() and name not in metric_names(USER_GROUP):
            raise EvaluateError(f"{spec}: metric {name!r} is already one of the tool's")
    return Evaluator(spec, function, dict(declared))


def evaluate_examples(
    evaluators: list[Evaluator], predict: Predict, x: Any, y: np.ndarray | None,
) -> dict[str, Value]:
    """Every evaluator's metrics for one model, through its `predict` (the flavor's, on a
    `.tflite`: `mlflow_tflite.flavor.loader.model.TFLiteModel(content).predict`): numbers,
    or per-example values where a function returned them.

    Raises:
        EvaluateError: an evaluator failed (the message names it and the reason).
    """
    metrics: dict[str, Value] = {}
    for evaluator in evaluators:
        metrics.update(evaluator(predict, x, y))
    return metrics


def evaluate_model(
    evaluators: list[Evaluator], predict: Predict, x: Any, y: np.ndarray | None,
) -> dict[str, float]:
    """`evaluate_examples` with each metric as the number that is logged (per-example
    values: their mean).

    Raises:
        EvaluateError: an evaluator failed (the message names it and the reason).
    """
    return {name: float(np.mean(value)) for name, value in
            evaluate_examples(evaluators, predict, x, y).items()}
