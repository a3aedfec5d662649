"""TFLiteConverter settings per `convert.quantization` value."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from mlflow_tflite.config.variants import ConvertConfig

Representative = Callable[[], Iterator[list[np.ndarray]]]


def representative_dataset(
    samples: np.ndarray | Sequence[np.ndarray], count: int
) -> Representative:
    """A generator of `count` single-sample batches spread evenly over `samples`.

    `samples` is one array (single-input model) or one array per model input; evenly
    spaced picks are deterministic and cover every part of a stratified split.
    """
    arrays = [samples] if isinstance(samples, np.ndarray) else list(samples)
    size = len(arrays[0])
    if size == 0:
        raise ValueError("the representative samples are empty")
    picks = np.unique(np.linspace(0, size - 1, num=min(count, size)).round().astype(int))

    def generate() -> Iterator[list[np.ndarray]]:
        for index in picks:
            yield [np.asarray(a[index : index + 1], dtype=np.float32) for a in arrays]

    return generate


def _none(converter: Any, tf: Any, cfg: ConvertConfig, data: Representative | None) -> None:
    converter.optimizations = []


def _dynamic(converter: Any, tf: Any, cfg: ConvertConfig, data: Representative | None) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]


def _float16(converter: Any, tf: Any, cfg: ConvertConfig, data: Representative | None) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


def _int8(converter: Any, tf: Any, cfg: ConvertConfig, data: Representative | None) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = data
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    io_type = getattr(tf, cfg.io_type)
    converter.inference_input_type = io_type
    converter.inference_output_type = io_type


def _int16x8(converter: Any, tf: Any, cfg: ConvertConfig, data: Representative | None) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = data
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
    ]


# quantization name -> converter settings; keys match ConvertConfig.quantization.
RECIPES: dict[str, Callable[[Any, Any, ConvertConfig, Representative | None], None]] = {
    "none": _none,
    "dynamic": _dynamic,
    "float16": _float16,
    "int8": _int8,
    "int16x8": _int16x8,
}
# Recipes that calibrate activation ranges and therefore need representative samples.
NEEDS_REPRESENTATIVE = frozenset({"int8", "int16x8"})
