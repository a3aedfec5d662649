"""`data.source: synthetic`: seeded random inputs shaped as the model's input, no labels.

For a baseline that comes without a dataset (a `.tflite` from another framework, a
detector): its variants are measured against the float model on these inputs (fidelity:
output SNR, cosine, max abs diff), they calibrate int8 activations, and they time the
model. Values are uniform in [0, 1), the range every other source is normalised to.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlflow_tflite.config import DataConfig
from mlflow_tflite.data.dataset import Dataset
from mlflow_tflite.data.errors import DataError

SYNTHETIC = "synthetic"
# Samples drawn when `data.max_samples` is unset: enough to calibrate (100 by default)
# and to measure fidelity on a test split of 100.
DEFAULT_SAMPLES = 500


def synthetic_dataset(input_shape: Sequence[int], config: DataConfig) -> Dataset:
    """Seeded random inputs of `input_shape`, split by the `data` section's fractions.

    Args:
        input_shape: One example's shape (no batch dimension), e.g. (224, 224, 3).
        config: The `data` section: `seed`, `max_samples` (default 500), the fractions.

    Returns:
        A Dataset with no classes and empty label arrays (`labelled` is False).

    Raises:
        DataError: the shape has an unknown or non-positive dimension.

    Example:
        >>> synthetic_dataset((8, 8, 1), DataConfig(source="synthetic")).x_test.shape
        (100, 8, 8, 1)
    """
    shape = tuple(int(d) if d is not None else -1 for d in input_shape)
    if not shape or min(shape) < 1:
        raise DataError(
            f"synthetic: the model's input shape {tuple(input_shape)} has an unknown or "
            "non-positive dimension; synthetic inputs need a fixed shape"
        )
    total = config.max_samples or DEFAULT_SAMPLES
    rng = np.random.default_rng(config.seed)
    x = rng.random((total, *shape), dtype=np.float32)
    n_test = max(1, round(total * config.test_fraction))
    n_val = round(total * config.validation_fraction)
    no_labels = np.zeros((0,), dtype=np.int64)
    return Dataset(
        x_train=x[n_test + n_val :],
        y_train=no_labels,
        x_val=x[n_test : n_test + n_val],
        y_val=no_labels,
        x_test=x[:n_test],
        y_test=no_labels,
        class_names=(),
        source=SYNTHETIC,
        normalization={"offset": 0.0, "scale": 1.0,
                       "rule": f"synthetic: uniform [0, 1), seed {config.seed}"},
    )
