"""Tiny real models for the measurement tests, built once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlflow_tflite.config.benchmark import BenchmarkConfig
from tests.helpers import digits, tiny_cnn, to_tflite

# Kernel values of the "palette" model: 4 distinct values, 1 in 4 of them zero.
PALETTE = np.array([-0.25, 0.0, 0.125, 0.5], dtype=np.float32)


@pytest.fixture(scope="session")
def palette_model() -> tuple[bytes, float]:
    """fp32 model whose kernels cycle through PALETTE; returns it and its exact sparsity."""
    model = tiny_cnn(seed=1)
    zeros = total = 0
    for layer in model.layers:
        if getattr(layer, "kernel", None) is None:
            continue
        kernel, *rest = layer.get_weights()
        values = np.resize(PALETTE, kernel.size).reshape(kernel.shape)
        layer.set_weights([values, *rest])
        zeros += int(np.count_nonzero(values == 0))
        total += values.size
    return to_tflite(model), zeros / total


@pytest.fixture(scope="session")
def model_file(tmp_path_factory: pytest.TempPathFactory, float_model: bytes) -> Path:
    path = tmp_path_factory.mktemp("models") / "model.tflite"
    path.write_bytes(float_model)
    return path


@pytest.fixture(scope="session")
def test_data() -> tuple[np.ndarray, np.ndarray]:
    x, y = digits()
    return x[:200], y[:200]


@pytest.fixture
def fast_config() -> BenchmarkConfig:
    return BenchmarkConfig(
        delegates=["xnnpack", "builtin"],
        threads=1,
        warmup_runs=2,
        timed_runs=5,
        cold_start=False,
    )


@pytest.fixture(scope="session")
def sparse_int8_model() -> tuple[bytes, float]:
    """80%-zero kernels converted with the sparsity optimisation (sparse-format weights);
    returns it and the kernels' sparsity in Keras. XNNPACK refuses this model."""
    from mlflow_tflite._tf import import_tensorflow

    tf = import_tensorflow()
    model = tiny_cnn(seed=2)
    rng = np.random.default_rng(0)
    zeros = total = 0
    for layer in model.layers:
        if getattr(layer, "kernel", None) is None:
            continue
        kernel, *rest = layer.get_weights()
        kernel[rng.random(kernel.shape) < 0.8] = 0.0
        layer.set_weights([kernel, *rest])
        zeros += int(np.count_nonzero(kernel == 0))
        total += kernel.size
    x, _ = digits()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY, tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[i : i + 1]] for i in range(20))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert(), zeros / total
