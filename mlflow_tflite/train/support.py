"""Which variants and data a baseline kind supports, checked before any work.

TFMOT's techniques wrap tf_keras layers, so a Keras 3 or `.tflite` baseline cannot take
them; a `.tflite` baseline cannot go back through the TFLite converter either. These
checks read only params and the model file's header, so a refusal comes before any data
is prepared and before any MLflow run exists.
"""

from __future__ import annotations

from mlflow_tflite.config import Params
from mlflow_tflite.convert.schemes import get_scheme
from mlflow_tflite.data.synthetic import SYNTHETIC
from mlflow_tflite.train.kinds import (
    KERAS3,
    TF_KERAS,
    baseline_kind,
    scheme_refusal,
    technique_refusal,
)


def support_problem(params: Params) -> str | None:
    """The first thing the `train.model` baseline cannot do with these params, as
    `key.path: reason` (e.g. `variants[5].compress.prune: pruning needs a tf_keras model;
    train.model is a .tflite file`), or None when everything is supported.

    Raises:
        ValueError: `train.model` is a `.tflite` path that is not a TFLite flatbuffer.
    """
    kind = baseline_kind(params.train.model)
    if params.data.source == SYNTHETIC:
        if kind == TF_KERAS:
            return (
                "data.source: synthetic gives unlabelled inputs for a Keras 3 .keras or a "
                ".tflite baseline; a tf_keras baseline is trained on labelled data"
            )
        if kind == KERAS3 and params.train.epochs > 0:
            return (
                f"train.epochs: {params.train.epochs} fine-tunes the Keras 3 model, which "
                "needs labelled data; data.source is synthetic (set train.epochs: 0)"
            )
    for index, variant in enumerate(params.variants):
        for step in variant.compress.steps:
            if (reason := technique_refusal(kind, step)) is not None:
                return f"variants[{index}].compress.{step}: {reason}"
        scheme = variant.convert.quantization
        needs_keras = get_scheme(scheme).needs_keras_model
        if (reason := scheme_refusal(kind, scheme, needs_keras)) is not None:
            return f"variants[{index}].convert.quantization: {reason}"
    return None
