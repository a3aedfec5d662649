"""User `evaluate` functions (`evaluate: tests.flows.user_metrics:<function>`) for flow tests."""

from __future__ import annotations

from typing import Any

import numpy as np


def distinct_scores(predict: Any, x: np.ndarray, y: np.ndarray | None) -> dict[str, float]:
    """How many distinct output values the model gives on the split: thousands for float
    outputs, at most 256 for a model whose int8 outputs are dequantized."""
    return {"distinct_scores": float(np.unique(predict(x)).size)}


distinct_scores.greater_is_better = {"distinct_scores": True}  # type: ignore[attr-defined]


def coarse_fails(predict: Any, x: np.ndarray, y: np.ndarray | None) -> dict[str, float]:
    """Fails, as user code may, on a model with dequantized int8 outputs."""
    if np.unique(predict(x)).size <= 256:
        raise ZeroDivisionError("the user's metric divided by zero")
    return {"fine": 1.0}


coarse_fails.greater_is_better = {"fine": True}  # type: ignore[attr-defined]


def confidence(predict: Any, x: np.ndarray, y: np.ndarray | None) -> dict[str, Any]:
    """The top score per example (its mean is logged, with an interval against fp32's)
    and, as one number, its 10th percentile."""
    top = np.asarray(predict(x)).max(axis=1)
    return {"confidence": top, "p10_confidence": float(np.quantile(top, 0.1))}


confidence.greater_is_better = {"confidence": True,  # type: ignore[attr-defined]
                                "p10_confidence": True}
