"""Weight clustering, measured on the converted `.tflite` kernels."""

from __future__ import annotations

from typing import Any

import pytest

from mlflow_tflite.compress import CompressionError, check_compress_config, compress_model
from mlflow_tflite.config.variants import CompressConfig, ConvertConfig
from mlflow_tflite.convert import convert_model
from tests.tflite_weights import kernels
from tests.variant_helpers import PRUNE_ALL, TRAIN

CLUSTERS = 8


@pytest.mark.parametrize("init", ["linear", "kmeans++", "density", "random"])
def test_clustered_kernels_hold_at_most_the_cluster_count(
    baseline: Any, dataset: Any, init: str
) -> None:
    cfg = CompressConfig(cluster={"clusters": CLUSTERS, "init": init})
    model = compress_model(baseline, cfg, dataset, TRAIN, log=lambda line: None)
    for kernel in kernels(convert_model(model, ConvertConfig(), dataset)):
        assert kernel.unique_per_kernel() <= CLUSTERS, (init, kernel.name)


def test_clustering_after_pruning_keeps_the_zeros(baseline: Any, dataset: Any) -> None:
    lines: list[str] = []
    cfg = CompressConfig(prune={"final_sparsity": 0.5, "layers": PRUNE_ALL},
                         cluster={"clusters": CLUSTERS})
    model = compress_model(baseline, cfg, dataset, TRAIN, log=lines.append)
    for kernel in kernels(convert_model(model, ConvertConfig(), dataset)):
        assert kernel.sparsity >= 0.48, kernel.name
        assert kernel.unique_per_kernel() <= CLUSTERS, kernel.name
    assert "cluster: 8 clusters, kmeans++ init, sparsity preserved" in lines


@pytest.mark.parametrize(
    ("config", "expected_error"),
    [
        (
            {"prune": {}, "cluster": {"preserve_sparsity": False}},
            "cluster.preserve_sparsity is false after a prune step",
        ),
    ],
)
def test_inconsistent_steps_fail_before_any_work(config: dict, expected_error: str) -> None:
    with pytest.raises(CompressionError, match=expected_error):
        check_compress_config(CompressConfig(**config))


@pytest.mark.parametrize(
    "config",
    [
        {"prune": {}, "cluster": {}},
        {"prune": {}, "cluster": {"preserve_sparsity": True}},
        {"cluster": {"preserve_sparsity": True}},
    ],
)
def test_consistent_steps_pass_the_check(config: dict) -> None:
    check_compress_config(CompressConfig(**config))
