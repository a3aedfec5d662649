"""TensorFlow import with the environment tfmot needs; call instead of `import tensorflow`."""

from __future__ import annotations

import os
from types import ModuleType


def configure_environment() -> None:
    """Set the variables that must be in place before TensorFlow is first imported.

    tfmot 0.8 only wraps Keras 2 models, so TensorFlow must resolve `tf.keras` to tf_keras.
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def import_tensorflow() -> ModuleType:
    """Import TensorFlow configured for tf_keras and quiet logs."""
    configure_environment()
    import tensorflow as tf

    return tf


def import_keras() -> ModuleType:
    """The Keras 2 package (`tf_keras`) that tfmot can wrap."""
    configure_environment()
    import tf_keras

    return tf_keras
