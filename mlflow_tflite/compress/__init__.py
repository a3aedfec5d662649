"""Compression techniques (tfmot pruning, clustering, QAT and their combinations).

Each technique is one module with `apply(model, cfg, ctx) -> model`, looked up by name in
`TECHNIQUES`; the config block of the same name in `CompressConfig` selects it. Steps run
in the order prune -> cluster -> qat, each on the previous step's stripped model, so
prune+cluster is sparsity-preserving clustering and prune/cluster followed by qat are
PQAT, CQAT and PCQAT.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlflow_tflite.compress.context import (
    CompressionError,
    EpochHook,
    FineTune,
    Log,
    TrainingData,
)

if TYPE_CHECKING:
    from mlflow_tflite.config.train import TrainConfig
    from mlflow_tflite.config.variants import CompressConfig

__all__ = ["TECHNIQUES", "CompressionError", "check_compress_config", "compress_model"]

# name -> module defining `apply(model, cfg, ctx)`; modules load on first use (tfmot is heavy).
TECHNIQUES: dict[str, str] = {
    "prune": "mlflow_tflite.compress.prune",
    "cluster": "mlflow_tflite.compress.cluster",
    "qat": "mlflow_tflite.compress.qat",
}


def technique(name: str) -> Callable[[Any, Any, FineTune], Any]:
    """The `apply` function of a technique.

    Raises:
        CompressionError: unknown technique name.
    """
    if name not in TECHNIQUES:
        raise CompressionError(
            f"unknown technique {name!r}; expected one of {', '.join(TECHNIQUES)}"
        )
    return importlib.import_module(TECHNIQUES[name]).apply


def check_compress_config(cfg: CompressConfig) -> None:
    """Cross-step checks that need no model or data, so they can run before any work.

    Raises:
        CompressionError: e.g. `cluster.preserve_sparsity: false` after a prune step.
    """
    from mlflow_tflite.compress.cluster import preserves_sparsity

    for name in cfg.steps:
        if name not in TECHNIQUES:
            technique(name)
    if cfg.cluster is not None:
        preserves_sparsity(cfg.cluster, cfg.steps[: cfg.steps.index("cluster")])


def compress_model(
    baseline: Any,
    cfg: CompressConfig,
    data: TrainingData,
    train: TrainConfig,
    *,
    log: Log = print,
    on_epoch: EpochHook | None = None,
) -> Any:
    """Apply the configured steps to a fresh copy of `baseline`; the baseline is untouched.

    Args:
        baseline: a trained Sequential or functional tf_keras model.
        cfg: the variant's `compress` block; no steps returns a plain copy.
        data: the prepared dataset (`x_train`, `y_train`, `x_val`, `y_val` are used).
        train: the `train` section (`batch_size` and `seed` are used).
        log: receives progress lines such as `prune: epoch 1/2 loss=0.21 ...`.
        on_epoch: called after every fine-tune epoch with (step, epoch, Keras logs); an
            exception it raises stops the compression.

    Returns:
        A Keras model ready for `mlflow_tflite.convert.convert_model`: stripped of pruning
        and clustering wrappers; quantize-wrapped when the last step is `qat`.

    Raises:
        CompressionError: inconsistent steps, or a model tfmot cannot wrap.

    Example:
        >>> cfg = CompressConfig(prune={"final_sparsity": 0.5})
        >>> model = compress_model(baseline, cfg, dataset, TrainConfig())
    """
    from mlflow_tflite.compress.context import fresh_copy
    from mlflow_tflite.train.baseline import outputs_probabilities

    check_compress_config(cfg)
    model = fresh_copy(baseline)
    ctx = FineTune(
        data=data,
        batch_size=train.batch_size,
        seed=train.seed,
        log=log,
        from_logits=not outputs_probabilities(model),
        on_epoch=on_epoch,
    )
    for name in cfg.steps:
        model = technique(name)(model, getattr(cfg, name), ctx)
        ctx.applied.append(name)
    return model
