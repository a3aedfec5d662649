"""Which variants and data a baseline kind supports, checked before any work.

TFMOT's techniques wrap tf_keras layers, so a SavedModel or `.tflite` baseline cannot take
them (a Keras 3 one takes them through its tf_keras twin, when it has an exact one:
`twin_skips`, once the baseline is trained; they fine-tune, so need labelled data); a
`.tflite` baseline cannot go back through the TFLite converter either.
A variant the baseline cannot take is skipped with its reason (never silently dropped);
only data the baseline cannot use, or a run where no variant applies, is refused. These
checks read only params and the model file's header, so a refusal comes before any data
is prepared and before any MLflow run exists.
"""

from __future__ import annotations

from pathlib import Path

from mlflow_tflite.config import Params, VariantConfig
from mlflow_tflite.data.synthetic import SYNTHETIC
from mlflow_tflite.plugins.scheme import get_scheme
from mlflow_tflite.train.baseline import UNLABELLED_NEEDS_FILE
from mlflow_tflite.train.kinds import (
    DESCRIPTIONS,
    KERAS3,
    TF_KERAS,
    baseline_kind,
    scheme_refusal,
    technique_refusal,
    twin_refusal,
)


def skip_reason(kind: str, variant: VariantConfig, source: str = "") -> str | None:
    """Why a `kind` baseline cannot take `variant` (its first technique or its scheme),
    e.g. `pruning needs a tf_keras model; train.model is a .tflite file`; None if it can.
    `source` is `data.source`: the techniques fine-tune on labels synthetic data lacks."""
    from mlflow_tflite.plugins.technique import get_technique

    for step in variant.compress.steps:
        if (reason := technique_refusal(kind, step)) is not None:
            return reason
        if source == SYNTHETIC:
            return (f"{get_technique(step).noun} fine-tunes on labelled data; "
                    "data.source is synthetic")
    scheme = variant.convert.quantization
    return scheme_refusal(kind, scheme, get_scheme(scheme).needs_keras_model)


def skipped_variants(params: Params) -> dict[str, str]:
    """Variant name -> why the `train.model` baseline cannot take it, in params order.

    Raises:
        ValueError: `train.model` is a `.tflite` path that is not a TFLite flatbuffer.
    """
    kind = baseline_kind(params.train.model)
    return {v.name: reason for v in params.variants
            if (reason := skip_reason(kind, v, params.data.source)) is not None}


def twin_skips(variants: list[VariantConfig], kind: str, problem: str | None) -> dict[str, str]:
    """Variant name -> why it is skipped, for the variants with TFMOT steps when a Keras 3
    baseline has no exact tf_keras twin (`problem`); known once the baseline is trained."""
    if kind != KERAS3 or problem is None:
        return {}
    return {v.name: twin_refusal(v.compress.steps[0], problem) for v in variants
            if v.compress.steps}


def applicable_variants(params: Params) -> list[VariantConfig]:
    """The variants the baseline can take, in params order (the rest are skipped)."""
    skipped = skipped_variants(params)
    return [v for v in params.variants if v.name not in skipped]


def support_problem(params: Params) -> str | None:
    """Why these params cannot run with the `train.model` baseline at all, as
    `key.path: reason`, or None: data it cannot use, or no variant it can take.

    Raises:
        ValueError: `train.model` is a `.tflite` path that is not a TFLite flatbuffer.
    """
    kind = baseline_kind(params.train.model)
    if params.data.source == SYNTHETIC:
        if kind == TF_KERAS and not Path(params.train.model).expanduser().exists():
            return f"train.model: {UNLABELLED_NEEDS_FILE}"
        if kind in (TF_KERAS, KERAS3) and params.train.epochs > 0:
            return (
                f"train.epochs: {params.train.epochs} trains {DESCRIPTIONS[kind]} on "
                "labelled data; data.source is synthetic (set train.epochs: 0)"
            )
    skipped = skipped_variants(params)
    if params.variants and len(skipped) == len(params.variants):
        reasons = "; ".join(f"{name}: {reason}" for name, reason in skipped.items())
        return (f"variants: none applies to train.model ({DESCRIPTIONS[kind]}), nothing "
                f"to build ({reasons})")
    return None
