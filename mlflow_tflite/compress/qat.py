"""Quantization-aware training; preserving schemes keep earlier sparsity and clusters.

After prune: PQAT (`Default8BitPrunePreserveQuantizeScheme`); after cluster: CQAT
(`Default8BitClusterPreserveQuantizeScheme`); after prune and cluster: PCQAT (the cluster
scheme with `preserve_sparsity=True`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlflow_tflite.compress.context import CompressionError, FineTune, quiet_logs
from mlflow_tflite.errors import first_line
from mlflow_tflite.plugins.technique import Technique
from mlflow_tflite.section import Section


class QatConfig(Section):
    """Quantization-aware training (tfmot `quantize_model`, preserving schemes if combined)."""

    epochs: int = Field(1, ge=1)
    learning_rate: float = Field(1e-4, gt=0.0)


def scheme_name(applied: list[str]) -> str:
    """`qat`, `pqat`, `cqat` or `pcqat` for the steps that came before."""
    if "cluster" in applied:
        return "pcqat" if "prune" in applied else "cqat"
    return "pqat" if "prune" in applied else "qat"


def apply(model: Any, cfg: QatConfig, ctx: FineTune) -> Any:
    """Make `model` quantization-aware and fine-tune it with a low learning rate.

    Returns:
        The quantize-wrapped model; TFLiteConverter turns its fake-quant ranges into an
        integer model (quantization `int8`).

    Raises:
        CompressionError: a layer tfmot cannot quantize.
    """
    import tensorflow_model_optimization as tfmot

    quantize = tfmot.quantization.keras
    combine = tfmot.experimental.combine
    name = scheme_name(ctx.applied)
    ctx.log(f"qat: {name.upper()} fine-tune at learning rate {cfg.learning_rate:g}")
    try:
        if name == "qat":
            wrapped = quantize.quantize_model(model)
        else:
            scheme = {
                "pqat": lambda: combine.Default8BitPrunePreserveQuantizeScheme(),
                "cqat": lambda: combine.Default8BitClusterPreserveQuantizeScheme(),
                "pcqat": lambda: combine.Default8BitClusterPreserveQuantizeScheme(
                    preserve_sparsity=True
                ),
            }[name]()
            with quiet_logs():
                annotated = quantize.quantize_annotate_model(model)
                wrapped = quantize.quantize_apply(annotated, scheme)
    except (ValueError, RuntimeError) as error:
        raise CompressionError(f"qat: {first_line(error)}") from error
    return ctx.fit(wrapped, step="qat", epochs=cfg.epochs, learning_rate=cfg.learning_rate)


def probe(model: Any) -> None:
    """tfmot's `quantize_model` on the baseline: what every QAT scheme starts from."""
    import tensorflow_model_optimization as tfmot

    with quiet_logs():
        tfmot.quantization.keras.quantize_model(model)


TECHNIQUE = Technique(
    name="qat",
    order=30,
    summary="Quantization-aware training: learn int8 ranges while fine-tuning.",
    config=QatConfig,
    apply=apply,
    needs="tf_keras",
    noun="quantization-aware training",
    # The converter turns QAT's fake-quant ranges into int8 kernels whatever the recipe
    # (dynamic/float16 would be mislabelled, none bloats the model, int16x8 fails).
    convert={"quantization": "int8"},
    probe=probe,
    sizes=False,
)
