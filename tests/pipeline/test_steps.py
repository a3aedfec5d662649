"""The flow's steps over the store: what makes `prepare` reuse or redo its work."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlflow_tflite.config import Params
from mlflow_tflite.pipeline import ArtifactStore, keys, steps


def _npz(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    np.savez(path, x_train=rng.random((60, 4, 4), dtype=np.float32),
             y_train=np.arange(60) % 3)
    return path


def _params(tmp_path: Path, source: Path) -> Params:
    return Params.model_validate({
        "data": {"source": str(source), "output_dir": str(tmp_path / "prepared")},
        "variants": [{"name": "fp32", "convert": {"quantization": "none"}}],
    })


def test_new_data_under_the_same_path_is_prepared_again(tmp_path: Path):
    store = ArtifactStore(tmp_path / "cache")
    params = _params(tmp_path, _npz(tmp_path / "data.npz", seed=0))
    first = steps.prepare(params, store)
    assert not first.reused
    assert steps.prepare(params, store).reused

    _npz(tmp_path / "data.npz", seed=1)  # same path and params, other content
    second = steps.prepare(params, store)
    assert not second.reused and second.version != first.version


def test_no_inputs_key_until_every_step_is_stored(tmp_path: Path):
    store = ArtifactStore(tmp_path / "cache")
    params = _params(tmp_path, _npz(tmp_path / "data.npz", seed=0))
    assert keys.inputs_key(params, store) is None
    steps.prepare(params, store)
    assert keys.inputs_key(params, store) is None  # no baseline, build or measurement yet
