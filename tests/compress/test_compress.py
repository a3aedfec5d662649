"""compress_model: fresh copies, the registry, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlflow_tflite.compress import CompressionError, compress_model, technique, technique_names
from mlflow_tflite.config.variants import CompressConfig
from tests.variant_helpers import TRAIN, weights_of


def test_every_configurable_technique_is_registered() -> None:
    assert technique_names() == ("prune", "cluster", "qat")
    assert tuple(CompressConfig.model_fields) == technique_names()
    for name in technique_names():
        assert callable(technique(name))


def test_an_unknown_technique_names_the_known_ones() -> None:
    with pytest.raises(
        CompressionError, match="unknown technique 'distill'; expected one of prune"
    ):
        technique("distill")


def test_compressing_twice_leaves_the_baseline_untouched(baseline: Any, dataset: Any) -> None:
    before = weights_of(baseline)
    cfg = CompressConfig(prune={"final_sparsity": 0.5})
    first = compress_model(baseline, cfg, dataset, TRAIN, log=lambda line: None)
    second = compress_model(baseline, cfg, dataset, TRAIN, log=lambda line: None)
    for old, new in zip(before, baseline.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    assert first is not baseline and second is not first
    # Seeded: the same config on the same baseline gives the same weights.
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_no_steps_gives_a_plain_copy(baseline: Any, dataset: Any) -> None:
    copy = compress_model(baseline, CompressConfig(), dataset, TRAIN, log=lambda line: None)
    assert copy is not baseline
    for a, b in zip(copy.get_weights(), baseline.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_subclassed_model_is_refused_with_the_reason(dataset: Any) -> None:
    from mlflow_tflite._tf import import_keras

    keras = import_keras()

    class Net(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.flat = keras.layers.Flatten()
            self.out = keras.layers.Dense(10)

        def call(self, x: Any) -> Any:
            return self.out(self.flat(x))

    model = Net()
    model(dataset.x_train[:1])
    with pytest.raises((CompressionError, ValueError)):
        compress_model(model, CompressConfig(prune={}), dataset, TRAIN, log=lambda line: None)
