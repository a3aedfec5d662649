"""Tiny real models for the flavor tests, each converted once per test session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import multi_io_model, to_tflite


@pytest.fixture(scope="session")
def multi_io_tflite() -> bytes:
    """Inputs `image` (8x8x1) and `extra` (3); outputs `logits` (10) and `score` (1)."""
    return to_tflite(multi_io_model())


@pytest.fixture(scope="session")
def custom_op_model() -> bytes:
    """A model whose only op, Igamma, is no LiteRT builtin: converted as a custom op."""
    from mlflow_tflite._tf import import_tensorflow

    tf = import_tensorflow()

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    def igamma(x):
        return tf.math.igamma(x, x)

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [igamma.get_concrete_function()], igamma
    )
    converter.allow_custom_ops = True
    return converter.convert()


@pytest.fixture(scope="session")
def sequence_model() -> bytes:
    """Input `tokens` of shape (batch, any length); output the row sums times two."""
    from mlflow_tflite._tf import import_tensorflow

    tf = import_tensorflow()

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="tokens")])
    def double_sum(tokens):
        return tf.reduce_sum(tokens * 2.0, axis=1, keepdims=True)

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [double_sum.get_concrete_function()], double_sum
    )
    return converter.convert()


@pytest.fixture(scope="session")
def models(float_model, int8_model, float16_model, multi_io_tflite) -> dict[str, bytes]:
    return {
        "float": float_model,
        "int8": int8_model,
        "float16": float16_model,
        "multi_io": multi_io_tflite,
    }


@pytest.fixture
def model_file(tmp_path: Path, float_model: bytes) -> Path:
    path = tmp_path / "digits.tflite"
    path.write_bytes(float_model)
    return path


def images(batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, 8, 8, 1), dtype=np.float32)


def multi_inputs(batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "image": rng.random((batch, 8, 8, 1), dtype=np.float32),
        "extra": rng.random((batch, 3), dtype=np.float32),
    }
