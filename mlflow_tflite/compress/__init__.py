"""Compression techniques (tfmot pruning, clustering, QAT and their combinations).

Each technique is one module defining `TECHNIQUE` (name, order, config block, `apply`),
found by `mlflow_tflite.plugins.technique`; the config block of the same name in
`CompressConfig` selects it. Steps run in the order prune -> cluster -> qat (each
technique's `order`), each on the previous step's stripped model, so
prune+cluster is sparsity-preserving clustering and prune/cluster followed by qat are
PQAT, CQAT and PCQAT.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlflow_tflite.compress.context import (
    CompressionError,
    EpochHook,
    FineTune,
    Log,
    TrainingData,
)
from mlflow_tflite.compress.resume import Prefixes, prefix_of, resume, storable
from mlflow_tflite.plugins.technique import get_technique, technique_names

if TYPE_CHECKING:
    from mlflow_tflite.config.train import TrainConfig
    from mlflow_tflite.config.variants import CompressConfig

__all__ = [
    "CompressionError",
    "check_compress_config",
    "compress_model",
    "technique",
    "technique_names",
]


def technique(name: str) -> Callable[[Any, Any, FineTune], Any]:
    """The `apply` function of a technique.

    Raises:
        CompressionError: unknown technique name.
    """
    try:
        return get_technique(name).apply
    except KeyError as error:
        raise CompressionError(error.args[0]) from None


def check_compress_config(cfg: CompressConfig) -> None:
    """Each step's rules across the compress block (`Technique.problem`, without the
    convert block), which need no model or data, so they can run before any work.

    Raises:
        CompressionError: e.g. `cluster.preserve_sparsity: false` after a prune step.
    """
    for name in cfg.steps:
        technique(name)
        problem = get_technique(name).problem(getattr(cfg, name), cfg, None)
        if problem is not None:
            raise CompressionError(problem)


def compress_model(
    baseline: Any,
    cfg: CompressConfig,
    data: TrainingData,
    train: TrainConfig,
    *,
    log: Log = print,
    on_epoch: EpochHook | None = None,
    facts: dict[str, Any] | None = None,
    prefixes: Prefixes | None = None,
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
        facts: receives what the steps decided (`prune_layers`: every layer holding a
            kernel, pruned or why not; `reused_steps`: the steps taken from `prefixes`).
        prefixes: where the results of first steps are kept (`compress.resume`): the
            longest stored one is the starting point (its steps do not train again; their
            last epoch is replayed to `on_epoch`), and every storable step's result is kept.

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
    last_epochs: dict[str, tuple[int, dict[str, float]]] = {}

    def hook(step: str, epoch: int, logs: dict[str, float]) -> None:
        last_epochs[step] = (epoch, dict(logs))
        if on_epoch is not None:
            on_epoch(step, epoch, logs)

    ctx = FineTune(
        data=data,
        batch_size=train.batch_size,
        seed=train.seed,
        log=log,
        from_logits=not outputs_probabilities(model),
        on_epoch=hook,
        facts=facts if facts is not None else {},
    )
    steps = list(cfg.steps)
    start = 0 if prefixes is None else resume(model, steps, prefixes, ctx)
    for index, name in enumerate(steps[start:], start=start + 1):
        model = technique(name)(model, getattr(cfg, name), ctx)
        ctx.applied.append(name)
        if prefixes is not None and storable(name):
            prefixes.save(steps[:index], prefix_of(model, ctx, last_epochs))
    return model
