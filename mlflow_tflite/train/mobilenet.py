"""A MobileNetV2-style baseline small enough to train on 2 CPU cores in minutes.

The structure that makes MobileNets hard to compress, scaled down: a strided stem
convolution, inverted residual blocks (1x1 expansion, 3x3 depthwise, linear 1x1
projection, each followed by BatchNorm; a residual add where the shape allows), a 1x1
head and global average pooling. Use it as `train.model:
mlflow_tflite.train.mobilenet:mobilenet_v2` on the bundled MNIST or digits; the pruning
benchmark (`bench/bench_mobilenet.py`) and the pruning tests train it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlflow_tflite._tf import import_keras

# (expansion, output channels, repeats, first stride) per stage, as in MobileNetV2's table.
STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 2, 2),
    (6, 64, 1, 1),
)
STEM_CHANNELS = 16
HEAD_CHANNELS = 128
# Keras' 0.99 needs thousands of steps before the moving statistics fit; a run on 3,500
# images takes a few hundred.
BN_MOMENTUM = 0.9
# Below this the stem keeps the resolution (8x8 digits), like the builtin CNN's padding.
_MIN_STRIDED_SIZE = 16


def mobilenet_v2(input_shape: Sequence[int], num_classes: int) -> Any:
    """A small functional MobileNetV2 (about 70k weights) emitting `num_classes` logits.

    Layer names say their role (`stem`, `block3_expand`, `block3_depthwise`,
    `block3_project`, `block3_add`, `head`, `logits`), so layer regexes read well.

    Example:
        >>> mobilenet_v2((28, 28, 1), 10).output_shape
        (None, 10)
    """
    keras = import_keras()
    inputs = keras.layers.Input(tuple(int(d) for d in input_shape), name="image")
    stride = 2 if min(int(input_shape[0]), int(input_shape[1])) >= _MIN_STRIDED_SIZE else 1
    x = _conv_bn(keras, inputs, STEM_CHANNELS, 3, stride, "stem")
    block = 0
    for expansion, channels, repeats, first_stride in STAGES:
        for repeat in range(repeats):
            block += 1
            x = _inverted_residual(keras, x, expansion, channels,
                                   first_stride if repeat == 0 else 1, f"block{block}")
    x = _conv_bn(keras, x, HEAD_CHANNELS, 1, 1, "head")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="mobilenet_v2")


def _conv_bn(keras: Any, x: Any, channels: int, size: int, stride: int, name: str) -> Any:
    x = keras.layers.Conv2D(channels, size, strides=stride, padding="same", use_bias=False,
                            name=name)(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu")(x)


def _inverted_residual(keras: Any, x: Any, expansion: int, channels: int, stride: int,
                       name: str) -> Any:
    inputs = x
    width = int(x.shape[-1])
    if expansion != 1:
        x = _conv_bn(keras, x, width * expansion, 1, 1, f"{name}_expand")
    x = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False,
                                     name=f"{name}_depthwise")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_depthwise_bn")(x)
    x = keras.layers.ReLU(6.0, name=f"{name}_depthwise_relu")(x)
    # The linear bottleneck: no activation after the projection.
    x = keras.layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_project")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_project_bn")(x)
    if stride == 1 and width == channels:
        x = keras.layers.Add(name=f"{name}_add")([inputs, x])
    return x


# Issue-sized real workload: Keras' own MobileNetV2 at its smallest width.
KERAS_ALPHA = 0.35


def keras_mobilenet_v2(input_shape: Sequence[int], num_classes: int) -> Any:
    """Keras' own `MobileNetV2` (alpha 0.35, untrained: `weights=None` downloads nothing)
    emitting `num_classes` logits; use it at 96x96x3 (`data.image_size: [96, 96]`,
    `data.color_mode: rgb`), one of the sizes Keras publishes it for.

    Its BatchNorm momentum is set to `BN_MOMENTUM`: Keras' 0.999 leaves the moving
    statistics near their initial values after the few thousand steps a small dataset
    gives, and the trained model then answers one class for every image.

    Example:
        >>> keras_mobilenet_v2((96, 96, 3), 10).count_params()
        423018
    """
    keras = import_keras()
    model = keras.applications.MobileNetV2(
        input_shape=tuple(int(d) for d in input_shape), alpha=KERAS_ALPHA, weights=None,
        classes=num_classes, classifier_activation=None)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM
    return model
