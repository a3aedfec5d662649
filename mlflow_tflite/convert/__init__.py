"""Keras model -> `.tflite` flatbuffer with one of the `convert.quantization` schemes.

The schemes live in `mlflow_tflite.convert.schemes`, one module each. Nothing here
imports `mlflow_tflite.config` at module level: the config validator reads the scheme
registry, which is a sub-package of this one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mlflow_tflite._tf import import_tensorflow
from mlflow_tflite.convert.representative import representative_dataset
from mlflow_tflite.convert.schemes import get_scheme, scheme_names

if TYPE_CHECKING:
    from mlflow_tflite.config.variants import ConvertConfig

__all__ = ["ConversionError", "convert_model", "scheme_names"]


class ConversionError(RuntimeError):
    """TFLiteConverter could not convert a model; the message is one line with the reason."""


def convert_model(
    model: Any,
    cfg: ConvertConfig,
    representative: Any,
    *,
    sparse: bool = False,
) -> bytes:
    """Convert a tf_keras model to a TFLite flatbuffer.

    Args:
        model: a Keras model (plain, stripped, or quantize-wrapped after QAT).
        cfg: the variant's `convert` block: `quantization`, `io_type` (int8 only) and
            `representative_samples`.
        representative: what calibrates int8 / int16x8 activations: a `Dataset` (its
            training split is used), one array of inputs, or one array per model input;
            up to `cfg.representative_samples` evenly spaced samples. Ignored by the
            other recipes.
        sparse: add `tf.lite.Optimize.EXPERIMENTAL_SPARSITY` so pruned weights are stored
            in a sparse format (for pruned variants).

    Returns:
        The flatbuffer bytes.

    Raises:
        ConversionError: missing representative samples, or the converter failed.

    Example:
        >>> flatbuffer = convert_model(model, ConvertConfig(quantization="int8"), x_train)
    """
    scheme = get_scheme(cfg.quantization)
    tf = import_tensorflow()
    data = None
    if scheme.needs_representative:
        if representative is None:
            raise ConversionError(
                f"quantization {cfg.quantization} needs representative samples (got none)"
            )
        try:
            samples = getattr(representative, "x_train", representative)
            data = representative_dataset(samples, cfg.representative_samples)
        except ValueError as error:
            raise ConversionError(str(error)) from error
    try:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        scheme.configure(converter, tf, cfg, data)
        if sparse:
            converter.optimizations = [
                *converter.optimizations,
                tf.lite.Optimize.EXPERIMENTAL_SPARSITY,
            ]
        with _quiet():
            return bytes(converter.convert())
    except Exception as error:
        raise ConversionError(f"{cfg.quantization} conversion failed: {_reason(error)}") from error


def _reason(error: BaseException) -> str:
    """The first informative line of a converter error (they can run to pages)."""
    for line in str(error).splitlines():
        # MLIR prefixes each diagnostic with the Python source location that traced the op.
        line = _LOCATION.sub(" ", line).strip()
        if line and not line.startswith(("<unknown>", "Traceback")):
            return line[:300]
    return type(error).__name__


_LOCATION = re.compile(r"\S*:\d+:\d+: (?=error|note|warning)")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep converter chatter off stdout and Python warnings off the console.

    The quantizer prints a settings line from C++ straight to file descriptor 1, which
    would land in the middle of the CLI's table; it goes to stderr instead.
    """
    loggers = [logging.getLogger(name) for name in ("tensorflow", "absl", "")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
