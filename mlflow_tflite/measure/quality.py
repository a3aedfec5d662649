"""Accuracy and fidelity of a model's outputs, as plain functions of arrays."""

from __future__ import annotations

import numpy as np


def top1(outputs: np.ndarray) -> np.ndarray:
    """Class predicted per sample: argmax over the last axis."""
    return np.asarray(outputs).reshape(len(outputs), -1).argmax(axis=1)


def labels_of(y: np.ndarray) -> np.ndarray:
    """Integer labels from integer labels or one-hot rows."""
    y = np.asarray(y)
    return y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1).astype(np.int64)


def accuracy(outputs: np.ndarray, y: np.ndarray) -> float:
    """Fraction of samples whose top-1 class equals the label.

    Raises:
        ValueError: outputs and labels differ in length.
    """
    labels = labels_of(y)
    if len(outputs) != len(labels):
        raise ValueError(f"{len(outputs)} outputs but {len(labels)} labels")
    return float(np.mean(top1(outputs) == labels))


def agreement(outputs: np.ndarray, reference: np.ndarray) -> float:
    """Fraction of samples where both models predict the same top-1 class."""
    if len(outputs) != len(reference):
        raise ValueError(f"{len(outputs)} outputs but {len(reference)} reference outputs")
    return float(np.mean(top1(outputs) == top1(reference)))


def max_abs_diff(outputs: np.ndarray, reference: np.ndarray) -> float:
    """Largest absolute difference between (dequantized) outputs and the reference."""
    a = np.asarray(outputs, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"outputs of shape {a.shape} but reference of shape {b.shape}")
    return float(np.max(np.abs(a - b))) if a.size else 0.0
