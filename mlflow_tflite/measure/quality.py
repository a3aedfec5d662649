"""Accuracy and fidelity of a model's outputs, as plain functions of arrays."""

from __future__ import annotations

import numpy as np

from mlflow_tflite.metrics import SNR_CEILING_DB


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




def flat_outputs(outputs: np.ndarray | list[np.ndarray]) -> np.ndarray:
    """Every output of every sample as one row: (N, total values), float64."""
    arrays = outputs if isinstance(outputs, list | tuple) else [outputs]
    rows = [np.asarray(a, dtype=np.float64).reshape(len(a), -1) for a in arrays]
    return np.concatenate(rows, axis=1)


def _same_shape(outputs: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = flat_outputs(outputs), flat_outputs(reference)
    if a.shape != b.shape:
        raise ValueError(f"outputs of shape {a.shape} but reference of shape {b.shape}")
    return a, b


def output_snr_db(outputs: np.ndarray, reference: np.ndarray) -> float:
    """Signal-to-noise ratio of the outputs against the reference, in dB:
    10*log10(sum(reference^2) / sum((outputs - reference)^2)), at most SNR_CEILING_DB."""
    a, b = _same_shape(outputs, reference)
    signal, noise = float(np.sum(b * b)), float(np.sum((a - b) ** 2))
    if noise <= signal * 10 ** (-SNR_CEILING_DB / 10):
        return SNR_CEILING_DB
    return float(10 * np.log10(max(signal, np.finfo(np.float64).tiny) / noise))


def output_cosine(outputs: np.ndarray, reference: np.ndarray) -> float:
    """Mean over samples of the cosine similarity between output and reference rows
    (1 when both rows are zero, 0 when only one is)."""
    a, b = _same_shape(outputs, reference)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = np.sum(a * b, axis=1)
    both_zero = (np.linalg.norm(a, axis=1) == 0) & (np.linalg.norm(b, axis=1) == 0)
    cosine = np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)
    return float(np.mean(np.where(both_zero, 1.0, cosine))) if len(a) else 1.0


def class_scores(output_shapes: list[tuple[int | None, ...]], num_classes: int) -> bool:
    """Whether a model's outputs are class scores for `num_classes` classes: one output
    of shape (batch, num_classes). Anything else (boxes, landmarks) is judged by fidelity."""
    if num_classes < 2 or len(output_shapes) != 1:
        return False
    shape = tuple(output_shapes[0])
    return len(shape) == 2 and shape[-1] == num_classes
