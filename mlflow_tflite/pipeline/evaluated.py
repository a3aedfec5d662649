"""A variant's `evaluate` metrics (the user's functions) as the measure step logs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlflow_tflite.config import Params
from mlflow_tflite.pipeline.handles import Baseline, PreparedData, load_prepared


def user_metrics(path: str | Path, params: Params, data: PreparedData,
                  baseline: Baseline) -> dict[str, float]:
    """The `evaluate` functions' metrics of the `.tflite` at `path` on the test split; a
    metric given per example is its mean with a 95% interval paired with the baseline's
    fp32 `.tflite` on the same examples (`measure.uncertainty.means_with_intervals`).

    Raises:
        EvaluateError: a function failed; the variant fails with that one line.
    """
    if not params.evaluate:
        return {}
    from mlflow_tflite.evaluate import EvaluateError, evaluate_examples, load_evaluators
    from mlflow_tflite.flavor.loader.model import TFLiteModel
    from mlflow_tflite.measure.uncertainty import means_with_intervals

    dataset = load_prepared(data.directory, data.version)
    evaluators = load_evaluators(params.evaluate)
    x, y = dataset.x_test, dataset.y_test if dataset.labelled else None

    def evaluated(model: str | Path) -> dict[str, Any]:
        predict = TFLiteModel(Path(model).read_bytes(), delegate="builtin").predict
        return evaluate_examples(evaluators, predict, x, y)

    ours = evaluated(path)
    per_example = any(isinstance(value, np.ndarray) for value in ours.values())
    theirs = evaluated(baseline.fp32_path) if per_example else {}
    try:
        return means_with_intervals(ours, theirs)
    except ValueError as error:
        raise EvaluateError(f"evaluate: {error}") from None
