"""A search trial whose prune block equals a finished trial's starts from that trial's
stored prune step (real store, tf_keras/tfmot, LiteRT and a SQLite MLflow store)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlflow_tflite import checks
from mlflow_tflite.config import VariantConfig
from mlflow_tflite.pipeline import ArtifactStore, steps
from mlflow_tflite.search import objective
from mlflow_tflite.search.trial import TrialContext, run_trial
from mlflow_tflite.tracking.layout import REUSED_STEPS_TAG

PRUNE = {"final_sparsity": 0.5, "epochs": 1}
INT8 = {"quantization": "int8", "sparsity_optimization": False}


def test_a_trial_reuses_an_earlier_trials_prune_step(
        tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_TFLITE_ISOLATE", "0")  # in this process: no TF child start
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump({
        "data": {"source": "digits", "output_dir": str(tmp_path / "prepared"),
                 "max_samples": 400},
        "train": {"epochs": 1},
        "variants": [{"name": "int8", "convert": {"quantization": "int8"}}],
        "benchmark": {"delegates": ["xnnpack"], "warmup_runs": 1, "timed_runs": 2,
                      "cold_start": False},
    }))
    params = checks.load_checked_params(params_file)
    store = ArtifactStore(tmp_path / "cache")
    data = steps.prepare(params, store)
    baseline = steps.train_baseline(params, data, store)
    with mlflow.start_run(run_name="search") as parent:
        parent_run_id = parent.info.run_id
    context = TrialContext(params, baseline, data, store, tracking_uri, parent_run_id, {})

    first = VariantConfig(name="trial-0", compress={"prune": PRUNE}, convert=INT8)
    second = VariantConfig(name="trial-1", compress={"prune": PRUNE,
                                                     "cluster": {"clusters": 8}},
                           convert=INT8)
    results = [run_trial(n, v, {}, context) for n, v in enumerate([first, second])]

    # Built and measured, both; whether a tiny model passes the default gates (accuracy drop,
    # latency against fp32 on a busy machine) is beside the point here.
    measured = {objective.COMPLETE, objective.INFEASIBLE}
    assert all(r.state in measured for r in results), [(r.state, r.error) for r in results]
    tags = [mlflow.get_run(r.run_id).data.tags for r in results]
    assert REUSED_STEPS_TAG not in tags[0]
    assert tags[1][REUSED_STEPS_TAG] == "prune"
