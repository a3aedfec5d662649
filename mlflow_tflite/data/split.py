"""Deterministic stratified subsets and train/validation/test splits."""

from __future__ import annotations

import numpy as np

from mlflow_tflite.data.errors import DataError

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def stratified_subset(
    x: np.ndarray, y: np.ndarray, max_samples: int | None, seed: int, origin: str
) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_samples` examples with the class proportions of `y` (same seed, same subset)."""
    if max_samples is None or max_samples >= len(y):
        return x, y
    x_keep, _, y_keep, _ = _split(x, y, max_samples, seed, origin, "max_samples")
    return x_keep, y_keep


def stratified_split(
    x: np.ndarray, y: np.ndarray, held_out: float, seed: int, origin: str, what: str
) -> Split:
    """Hold out a `held_out` fraction of (x, y), stratified by label: (x_a, x_b, y_a, y_b).

    A fraction of 0 holds out nothing and returns empty arrays of the right shape.
    """
    if held_out <= 0:
        return x, x[:0], y, y[:0]
    return _split(x, y, held_out, seed, origin, what)


def _split(
    x: np.ndarray, y: np.ndarray, size: float | int, seed: int, origin: str, what: str
) -> Split:
    from sklearn.model_selection import train_test_split

    keep = size if isinstance(size, int) else None
    held = None if isinstance(size, int) else size
    try:
        x_a, x_b, y_a, y_b = train_test_split(
            x, y, train_size=keep, test_size=held, random_state=seed, shuffle=True, stratify=y
        )
    except ValueError as exc:
        counts = np.bincount(y)
        raise DataError(
            f"{origin}: cannot make a stratified {what} split of {len(y)} samples "
            f"(smallest class has {counts[counts > 0].min()}): {exc}"
        ) from exc
    return x_a, x_b, y_a, y_b
