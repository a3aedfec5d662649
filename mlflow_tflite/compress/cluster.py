"""Weight clustering (tfmot `cluster_weights`), stripped after fine-tuning."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from mlflow_tflite.compress.context import CompressionError, FineTune, kernel_layers
from mlflow_tflite.errors import first_line
from mlflow_tflite.plugins.technique import Technique
from mlflow_tflite.section import Section


class ClusterConfig(Section):
    """Weight clustering (tfmot `cluster_weights`)."""

    clusters: int = Field(16, ge=2, le=256)
    init: Literal["linear", "kmeans++", "density", "random"] = "kmeans++"
    preserve_sparsity: bool = Field(
        False, description="Keep zeros of an earlier prune step (sparsity-preserving clustering)."
    )
    epochs: int = Field(1, ge=1)
    learning_rate: float = Field(1e-4, gt=0.0)


INITS = {
    "linear": "LINEAR",
    "kmeans++": "KMEANS_PLUS_PLUS",
    "density": "DENSITY_BASED",
    "random": "RANDOM",
}


def preserves_sparsity(cfg: ClusterConfig, applied: list[str]) -> bool:
    """Whether clustering keeps zeros: always after a prune step (`TECHNIQUE.after`), else
    as configured.

    Raises:
        CompressionError: `preserve_sparsity` was set to false explicitly after a prune
            step; clustering would then fill in the zeros pruning made.
    """
    if (problem := TECHNIQUE.after_problem(cfg, applied)) is not None:
        raise CompressionError(problem)
    return TECHNIQUE.fixed_after(applied).get("preserve_sparsity", cfg.preserve_sparsity)


def max_clusters(key: str, earlier: Mapping[str, Any], kernel_sizes: list[int]) -> int | None:
    """The most `clusters` every kernel can take after the earlier steps (>= 2): after
    pruning, sparsity-preserving clustering fails on a kernel with fewer non-zero weights
    than clusters. None for another key or without a prune step."""
    prune = earlier.get("prune")
    if key != "clusters" or prune is None:
        return None
    kept = min((math.floor(size * (1 - prune.target_sparsity)) for size in kernel_sizes),
               default=256)
    return max(2, kept - 1)


def unique_kernel_values(model: Any) -> int:
    """The largest number of distinct values in any kernel of `model`."""
    import numpy as np

    return max((len(np.unique(layer.kernel.numpy())) for layer in kernel_layers(model)), default=0)


def apply(model: Any, cfg: ClusterConfig, ctx: FineTune) -> Any:
    """Cluster every kernel of `model` into `cfg.clusters` values while fine-tuning.

    Args:
        model: a Sequential or functional tf_keras model (already pruned for
            sparsity-preserving clustering).
        cfg: the `cluster` block.
        ctx: data, fine-tuning settings and the steps already applied.

    Returns:
        The stripped model: plain layers whose kernels hold at most `clusters` values
        (plus zero when sparsity is preserved).

    Raises:
        CompressionError: inconsistent settings or a layer tfmot cannot cluster.
    """
    import tensorflow_model_optimization as tfmot

    api = tfmot.clustering.keras
    preserve = preserves_sparsity(cfg, ctx.applied)
    init = getattr(api.CentroidInitialization, INITS[cfg.init])
    ctx.log(
        f"cluster: {cfg.clusters} clusters, {cfg.init} init"
        + (", sparsity preserved" if preserve else "")
    )
    try:
        if preserve:
            # tfmot 0.8 exports sparsity-preserving clustering only from this module.
            from tensorflow_model_optimization.python.core.clustering.keras.experimental import (
                cluster as experimental,
            )

            wrapped = experimental.cluster_weights(
                model,
                number_of_clusters=cfg.clusters,
                cluster_centroids_init=init,
                preserve_sparsity=True,
            )
        else:
            wrapped = api.cluster_weights(
                model, number_of_clusters=cfg.clusters, cluster_centroids_init=init
            )
    except ValueError as error:
        raise CompressionError(f"cluster: {first_line(error)}") from error
    ctx.fit(wrapped, step="cluster", epochs=cfg.epochs, learning_rate=cfg.learning_rate)
    stripped = api.strip_clustering(wrapped)
    ctx.log(f"cluster: at most {unique_kernel_values(stripped)} distinct values per kernel")
    return stripped


def probe(model: Any) -> None:
    """Wrap every kernel for clustering, as `apply` would (2 linear centroids, no training)."""
    import tensorflow_model_optimization as tfmot

    api = tfmot.clustering.keras
    api.cluster_weights(model, number_of_clusters=2,
                        cluster_centroids_init=api.CentroidInitialization.LINEAR)


TECHNIQUE = Technique(
    name="cluster",
    order=20,
    summary="Weight clustering: share a few values per kernel while fine-tuning.",
    config=ClusterConfig,
    apply=apply,
    needs="tf_keras",
    noun="clustering",
    after={"prune": {"preserve_sparsity": True}},
    after_reason="clustering would undo the pruning",
    search_cap=max_clusters,
    probe=probe,
)
