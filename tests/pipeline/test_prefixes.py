"""Variants start from the stored result of equal first steps (real tf_keras/tfmot, real
artifact store): what is reused, what is not, and a damaged or disabled store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlflow_tflite.compress import compress_model
from mlflow_tflite.compress.context import sparsity
from mlflow_tflite.config.variants import CompressConfig
from mlflow_tflite.pipeline import ArtifactStore
from mlflow_tflite.pipeline.prefixes import KIND, WEIGHTS_FILE, StoredPrefixes
from tests.variant_helpers import TRAIN

PRUNE = {"final_sparsity": 0.5, "epochs": 2}
CLUSTER = {"clusters": 8, "epochs": 1}


def _compress(baseline: Any, dataset: Any, store: ArtifactStore, **steps: Any) -> dict:
    """Compress with the store's prefixes; what the hook, the log and `facts` saw."""
    cfg = CompressConfig(**steps)
    epochs: list[tuple[str, int]] = []
    lines: list[str] = []
    facts: dict[str, Any] = {}
    model = compress_model(baseline, cfg, dataset, TRAIN, log=lines.append,
                           on_epoch=lambda step, epoch, logs: epochs.append((step, epoch)),
                           facts=facts, prefixes=StoredPrefixes(store, "base", cfg, TRAIN))
    return {"model": model, "epochs": epochs, "lines": lines, "facts": facts,
            "key": StoredPrefixes(store, "base", cfg, TRAIN).key}


def _entries(store: ArtifactStore) -> list[Path]:
    folder = store.root / KIND
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if (
        folder.is_dir()) else []


def test_a_variant_starts_from_the_stored_prune_step_of_another(
        baseline: Any, dataset: Any, tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "cache")
    pruned = _compress(baseline, dataset, store, prune=PRUNE)
    assert pruned["epochs"] == [("prune", 1), ("prune", 2)]
    assert len(_entries(store)) == 1  # the prune step's stripped model

    both = _compress(baseline, dataset, store, prune=PRUNE, cluster=CLUSTER)

    # Not trained again: only prune's last epoch is replayed (the pruner judges it).
    assert both["epochs"] == [("prune", 2), ("cluster", 1)]
    key = both["key"](["prune"])
    assert f"prune: reused from the store (key {key})" in both["lines"]
    assert both["facts"]["reused_steps"] == ["prune"]
    assert both["facts"]["prune_layers"] == pruned["facts"]["prune_layers"]
    assert "reused_steps" not in pruned["facts"]
    assert len(_entries(store)) == 2  # and now prune+cluster too
    # Clustering kept the reused step's zeros (it knew a prune step came first).
    assert sparsity(both["model"], {"dense"}) >= 0.45

    # The whole compress block stored: the model is the stored one, weight for weight.
    again = _compress(baseline, dataset, store, prune=PRUNE)
    assert again["epochs"] == [("prune", 2)]
    for stored, trained in zip(again["model"].get_weights(), pruned["model"].get_weights(),
                               strict=True):
        np.testing.assert_array_equal(stored, trained)
    assert sparsity(again["model"]) == sparsity(pruned["model"])


def test_another_prune_block_does_not_reuse(baseline: Any, dataset: Any,
                                            tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "cache")
    _compress(baseline, dataset, store, prune=PRUNE)

    other = _compress(baseline, dataset, store, prune={**PRUNE, "final_sparsity": 0.6},
                      cluster=CLUSTER)

    assert other["epochs"] == [("prune", 1), ("prune", 2), ("cluster", 1)]
    assert "reused_steps" not in other["facts"]
    assert not any("reused from the store" in line for line in other["lines"])


def test_a_damaged_prefix_trains_again_and_a_disabled_store_is_left_alone(
        baseline: Any, dataset: Any, tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "cache")
    _compress(baseline, dataset, store, prune=PRUNE)
    [entry] = _entries(store)
    weights = entry / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:100])  # truncated on disk

    redone = _compress(baseline, dataset, store, prune=PRUNE, cluster=CLUSTER)
    assert redone["epochs"] == [("prune", 1), ("prune", 2), ("cluster", 1)]
    assert "reused_steps" not in redone["facts"]
    assert len(_entries(store)) == 2  # the prune step stored again, beside prune+cluster

    disabled = ArtifactStore(tmp_path / "cache", enabled=False)  # --no-cache
    stamps = {p: p.stat().st_mtime_ns for p in _entries(store)}
    forced = _compress(baseline, dataset, disabled, prune=PRUNE, cluster=CLUSTER)
    assert forced["epochs"] == [("prune", 1), ("prune", 2), ("cluster", 1)]
    assert {p: p.stat().st_mtime_ns for p in _entries(store)} == stamps
    _compress(baseline, dataset, ArtifactStore(tmp_path / "other", enabled=False),
              prune=PRUNE)
    assert not (tmp_path / "other").exists()
