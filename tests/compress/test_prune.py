"""Magnitude pruning, measured on the converted `.tflite` kernels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlflow_tflite.compress import CompressionError, compress_model
from mlflow_tflite.compress.prune import schedule_steps
from mlflow_tflite.config.variants import CompressConfig, ConvertConfig
from mlflow_tflite.convert import convert_model
from tests.tflite_weights import kernels
from tests.variant_helpers import TRAIN

TARGET = 0.6


@pytest.mark.parametrize("total", [1, 2, 3, 9, 10, 22, 99, 100, 1001])
def test_schedule_ends_on_a_mask_update_within_the_fine_tune(total: int) -> None:
    begin, end, frequency = schedule_steps(total)
    assert begin == 0
    assert 1 <= end <= total
    assert (end - begin) % frequency == 0
    assert frequency <= max(1, total // 10)


def test_schedule_rejects_an_empty_fine_tune() -> None:
    with pytest.raises(ValueError, match="pruning needs >= 1 fine-tuning step"):
        schedule_steps(0)


@pytest.fixture(scope="module", params=["polynomial", "constant"])
def pruned(request: pytest.FixtureRequest, baseline: Any, dataset: Any) -> tuple[Any, list[str]]:
    lines: list[str] = []
    cfg = CompressConfig(prune={"schedule": request.param, "final_sparsity": TARGET})
    return compress_model(baseline, cfg, dataset, TRAIN, log=lines.append), lines


@pytest.mark.parametrize("quantization", ["none", "int8"])
def test_pruned_kernels_reach_the_target_in_a_short_fine_tune(
    pruned: tuple[Any, list[str]], dataset: Any, quantization: str
) -> None:
    model, _ = pruned
    flatbuffer = convert_model(model, ConvertConfig(quantization=quantization), dataset)
    found = kernels(flatbuffer)
    assert len(found) == 3
    for kernel in found:
        assert kernel.sparsity >= TARGET - 0.02, (kernel.name, kernel.sparsity)


def test_pruning_logs_the_schedule_and_each_epoch(pruned: tuple[Any, list[str]]) -> None:
    _, lines = pruned
    assert any("mask update every 2 until step 22" in line for line in lines)
    epoch = [line for line in lines if line.startswith("prune: epoch 1/1")]
    assert len(epoch) == 1 and "val_accuracy=" in epoch[0] and "sparsity=0.6" in epoch[0]


def test_m_by_n_keeps_m_of_every_n_input_weights(baseline: Any, dataset: Any) -> None:
    lines: list[str] = []
    cfg = CompressConfig(prune={"m_by_n": [2, 4]})
    model = compress_model(baseline, cfg, dataset, TRAIN, log=lines.append)
    conv, hidden, logits = kernels(convert_model(model, ConvertConfig(), dataset))
    for kernel in (hidden, logits):
        # TFLite kernels are [out, in]: the pattern runs along the input axis.
        groups = kernel.values.reshape(kernel.values.shape[0], -1, 4)
        assert np.count_nonzero(groups, axis=-1).max() <= 2, kernel.name
        assert kernel.sparsity == pytest.approx(0.5, abs=0.01)
    # One input channel cannot hold a 2:4 pattern: the first conv stays dense.
    assert conv.sparsity < 0.1
    assert "prune: m_by_n applies to dense, logits" in lines


def test_m_by_n_without_a_wide_enough_layer_is_refused(dataset: Any) -> None:
    from mlflow_tflite._tf import import_keras

    keras = import_keras()
    narrow = keras.Sequential(
        [keras.layers.Input((8, 8, 1)), keras.layers.Conv2D(4, 3), keras.layers.Flatten()]
    )
    cfg = CompressConfig(prune={"m_by_n": [2, 4]})
    with pytest.raises(CompressionError, match=r"^prune: no Dense/Conv2D layer has >= 4 input"):
        compress_model(narrow, cfg, dataset, TRAIN, log=lambda line: None)
