"""A variant's `evaluate` metrics (the user's functions) as the measure step logs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlflow_tflite.config import Params
from mlflow_tflite.pipeline.handles import Baseline, PreparedData, load_prepared


def user_metrics(path: str | Path, params: Params, data: PreparedData,
                 baseline: Baseline) -> dict[str, float]:
    """The `evaluate` functions' metrics of the `.tflite` at `path`: on the test split
    (`<name>`, reported) and on the validation split (`selection/<name>`, which the
    promotion gates and objectives and the search judge by: `metrics.decision_value`).
    A metric given per example is its mean with a 95% interval paired with the
    baseline's fp32 `.tflite` on the same examples (`measure.uncertainty.means_with_intervals`).

    Raises:
        EvaluateError: a function failed; the variant fails with that one line.
    """
    if not params.evaluate:
        return {}
    from mlflow_tflite.evaluate import EvaluateError, evaluate_examples, load_evaluators
    from mlflow_tflite.flavor.loader.model import TFLiteModel
    from mlflow_tflite.measure.uncertainty import means_with_intervals
    from mlflow_tflite.metrics import SELECTION_PREFIX

    dataset = load_prepared(data.directory, data.version)
    evaluators = load_evaluators(params.evaluate)
    predicts = {model: TFLiteModel(Path(model).read_bytes(), delegate="builtin").predict
                for model in (path, baseline.fp32_path)}
    splits = {"": (dataset.x_test, dataset.y_test)}
    if len(dataset.x_val):  # `data.validation_fraction: 0`: decisions judge the test split
        splits[SELECTION_PREFIX] = (dataset.x_val, dataset.y_val)
    found: dict[str, float] = {}
    for prefix, (x, y) in splits.items():
        labels = y if dataset.labelled else None
        ours: dict[str, Any] = evaluate_examples(evaluators, predicts[path], x, labels)
        per_example = any(isinstance(value, np.ndarray) for value in ours.values())
        theirs = (evaluate_examples(evaluators, predicts[baseline.fp32_path], x, labels)
                  if per_example else {})
        try:
            metrics = means_with_intervals(ours, theirs)
        except ValueError as error:
            raise EvaluateError(f"evaluate: {error}") from None
        found.update({f"{prefix}{name}": value for name, value in metrics.items()})
    return found
