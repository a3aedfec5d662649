"""The results of variants' first compression steps in the artifact store (kind `prefix`).

A variant whose first steps equal a stored variant's (the same prune block on the same
baseline) starts from that stored model instead of training it again
(`compress.resume`). Entries are written like every store entry (atomically, with
checksums); an entry that cannot be read is skipped with a warning and the steps train
again; a disabled store (`--no-cache`) neither reads nor writes them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from mlflow_tflite.compress.resume import Prefix
from mlflow_tflite.config import CompressConfig, TrainConfig
from mlflow_tflite.pipeline.cache import ArtifactStore
from mlflow_tflite.pipeline.keys import prefix_key

KIND = "prefix"
WEIGHTS_FILE = "weights.npz"
FACTS_FILE = "facts.json"
logger = logging.getLogger(__name__)


class StoredPrefixes:
    """`compress.resume.Prefixes` over an ArtifactStore, for one variant's compress block.

    Args:
        store: the artifact store.
        base_key: the baseline's store key.
        compress: the variant's `compress` block (the steps' configs).
        train: the `train` section (fine-tune batch size and seed).
    """

    def __init__(self, store: ArtifactStore, base_key: str, compress: CompressConfig,
                 train: TrainConfig) -> None:
        self.store, self.base_key, self.compress, self.train = store, base_key, compress, train

    def key(self, steps: list[str]) -> str:
        return prefix_key(self.base_key, self.compress, steps, self.train)

    def find(self, steps: list[str]) -> Prefix | None:
        key = self.key(steps)
        entry = self.store.get(KIND, key)  # None when disabled, missing or damaged
        if entry is None:
            return None
        try:
            with np.load(entry / WEIGHTS_FILE, allow_pickle=False) as arrays:
                weights = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
            stored = json.loads((entry / FACTS_FILE).read_text())
            epochs = {step: (int(epoch), dict(logs))
                      for step, (epoch, logs) in stored["last_epochs"].items()}
            return Prefix(weights, stored["facts"], epochs, key)
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("artifact store entry %s/%s cannot be read (%s); its steps train "
                           "again", KIND, key, error)
            return None

    def save(self, steps: list[str], prefix: Prefix) -> None:
        if not self.store.enabled:
            return
        key = self.key(steps)
        body: dict[str, Any] = {"facts": prefix.facts, "last_epochs": prefix.last_epochs}
        try:
            with self.store.put(KIND, key, {"steps": steps}) as tmp:
                np.savez(tmp / WEIGHTS_FILE, *prefix.weights)
                (tmp / FACTS_FILE).write_text(json.dumps(body, indent=2, default=str))
        except OSError as error:  # a full disk costs the reuse, not the variant
            logger.warning("could not store the result of %s (%s)", "+".join(steps), error)
