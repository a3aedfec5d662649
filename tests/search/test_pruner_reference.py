"""The search pruner has a reference on every baseline: without a training curve
(`train.epochs: 0`) the baseline's validation accuracy is measured once (a Keras
application built with `weights=None`, real TensorFlow and LiteRT)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from mlflow_tflite import checks
from mlflow_tflite._tf import import_keras
from mlflow_tflite.measure import predict_outputs
from mlflow_tflite.pipeline import ArtifactStore, handles, steps
from mlflow_tflite.search import objective
from mlflow_tflite.search.trial import baseline_val_accuracy


def test_a_baseline_used_as_is_gives_the_pruner_its_measured_val_accuracy(tmp_path: Path):
    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = tmp_path / "mobilenet_v2.h5"
    keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None,
                                   classes=4).save(model)
    rng = np.random.default_rng(0)
    source = tmp_path / "faces.npz"
    np.savez(source, x_train=rng.random((80, 32, 32, 3), dtype=np.float32) * 2 - 1,
             y_train=np.tile(np.arange(4), 20))
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump({
        "data": {"source": str(source), "output_dir": str(tmp_path / "prepared")},
        "train": {"model": str(model), "epochs": 0},
        "variants": [{"name": "fp32", "convert": {"quantization": "none"}}],
    }))
    params = checks.load_checked_params(params_file)
    store = ArtifactStore(tmp_path / "cache")
    data = steps.prepare(params, store)

    baseline = steps.train_baseline(params, data, store)

    assert baseline.history == {}
    dataset = handles.load_prepared(data.directory, data.version)
    scores = predict_outputs(baseline.fp32_path.read_bytes(), dataset.x_val)
    expected = float(np.mean(np.argmax(scores, axis=-1) == dataset.y_val))
    assert baseline_val_accuracy(baseline) == expected
    # Stored with the baseline: a search resumed later has the same reference.
    reused = steps.train_baseline(params, data, store)
    assert reused.reused and baseline_val_accuracy(reused) == expected
    assert objective.should_prune(expected - 0.2, baseline_val_accuracy(reused), 0.1)
