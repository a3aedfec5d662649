"""`data.source: synthetic`: seeded random inputs shaped as the model's input, no labels.

For a baseline that comes without a dataset (a `.tflite` from another framework, a
detector): its variants are measured against the float model on these inputs (fidelity:
output SNR, cosine, max abs diff), they calibrate int8 activations, and they time the
model. Float values are uniform in [0, 1), the range every other source is normalised
to; integer inputs take values in [0, 10), boolean ones either value. A model with several
inputs gets one structured array per split, a field per input (named as the model names
it, with that input's shape and dtype).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from mlflow_tflite.config import DataConfig
from mlflow_tflite.config.data import MeanStd
from mlflow_tflite.data.dataset import Dataset
from mlflow_tflite.data.errors import DataError
from mlflow_tflite.data.scaling import mean_std_rule

SYNTHETIC = "synthetic"
# Samples drawn when `data.max_samples` is unset: enough to calibrate (100 by default)
# and to measure fidelity on a test split of 100.
DEFAULT_SAMPLES = 500
# Integer inputs (token ids, class indices) draw from [0, _INT_HIGH): valid for any
# vocabulary or embedding table of at least that size.
_INT_HIGH = 10


class InputSpec(NamedTuple):
    """One model input: its name, one example's shape (no batch) and its numpy dtype."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"


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
    return synthetic_inputs([InputSpec("input", tuple(input_shape))], config)


def synthetic_inputs(inputs: Sequence[InputSpec], config: DataConfig,
                     normalization: MeanStd | None = None) -> Dataset:
    """Seeded random inputs for every model input, split by the `data` section's fractions:
    one plain array per split for one input, a structured array (a field per input) for
    several.

    `normalization`: the `(x - mean) / std` on 0..255 pixels a `.tflite` model's metadata
    asks for; one float input whose channels it fits is then drawn as uniform 0..255
    pixels so normalized, the range the model was trained on (int8 calibration ranges
    come from these inputs).

    Raises:
        DataError: an input has an unknown or non-positive dimension, or a dtype that is
            not a number or bool.
    """
    total = config.max_samples or DEFAULT_SAMPLES
    rng = np.random.default_rng(config.seed)
    columns = [(spec, _fixed_shape(spec, several=len(inputs) > 1)) for spec in inputs]
    draws = [_draw(rng, spec, (total, *shape)) for spec, shape in columns]
    rule = f"synthetic: uniform [0, 1), seed {config.seed}"
    if normalization is not None and _fits(normalization, columns):
        draws[0] = ((draws[0] * 255.0 - np.asarray(normalization.mean, np.float32))
                    / np.asarray(normalization.std, np.float32)).astype(draws[0].dtype)
        rule = (f"synthetic: uniform 0..255 pixels, {mean_std_rule(normalization)} "
                f"(train.model's TFLite metadata), seed {config.seed}")
    if len(draws) == 1:
        x = draws[0]
    else:
        x = np.empty(total, dtype=[(spec.name, a.dtype, a.shape[1:])
                                   for (spec, _), a in zip(columns, draws, strict=True)])
        for (spec, _), array in zip(columns, draws, strict=True):
            x[spec.name] = array
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
        normalization={"offset": 0.0, "scale": 1.0, "rule": rule},
    )


def _fits(normalization: MeanStd, columns: list[tuple[InputSpec, tuple[int, ...]]]) -> bool:
    """One float input with one value per channel (its last axis), or one for all."""
    if len(columns) != 1:
        return False
    spec, shape = columns[0]
    sizes = {len(normalization.mean), len(normalization.std)}
    return np.issubdtype(np.dtype(spec.dtype), np.floating) and sizes <= {1, shape[-1]}


def _fixed_shape(spec: InputSpec, several: bool) -> tuple[int, ...]:
    shape = tuple(int(d) if d is not None else -1 for d in spec.shape)
    if not shape or min(shape) < 1:
        which = f"input {spec.name} of shape" if several else "input shape"
        raise DataError(
            f"synthetic: the model's {which} {tuple(spec.shape)} has an unknown or "
            "non-positive dimension; synthetic inputs need a fixed shape"
        )
    return shape


def _draw(rng: np.random.Generator, spec: InputSpec, shape: tuple[int, ...]) -> np.ndarray:
    dtype = np.dtype(spec.dtype)
    if np.issubdtype(dtype, np.floating):
        return rng.random(shape, dtype=np.float32).astype(dtype)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, _INT_HIGH, shape).astype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    raise DataError(f"synthetic: the model's input {spec.name} is {dtype}; synthetic "
                    "inputs are numbers or bool")
