"""The size screen: a trial whose model, built on two batches, is larger than the smallest
feasible trial so far stops before its fine-tunes (real tf_keras/tfmot, converter, Optuna
SQLite storage, artifact store and MLflow store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlflow_tflite import checks
from mlflow_tflite.config import VariantConfig
from mlflow_tflite.measure.size import gzip_size_bytes
from mlflow_tflite.pipeline import ArtifactStore, keys, steps
from mlflow_tflite.search import objective, screen
from mlflow_tflite.search import study as studies
from mlflow_tflite.search.trial import TrialContext, run_trial
from mlflow_tflite.tracking.layout import FAILED_STEP_TAG

PRUNED_INT8 = {"compress": {"prune": {"final_sparsity": 0.8, "epochs": 2}},
               "convert": {"quantization": "int8", "sparsity_optimization": False}}


def _result(number: int, state: str, size: float) -> dict[str, Any]:
    return {"number": number, "state": state, "metrics": {"gzip_size_bytes": size}}


def test_the_incumbent_is_the_smallest_feasible_trial() -> None:
    found = [_result(0, objective.COMPLETE, 900.0), _result(1, objective.INFEASIBLE, 100.0),
             _result(2, objective.COMPLETE, 700.0), _result(3, objective.PRUNED, 50.0)]
    assert screen.incumbent(found, "gzip_size_bytes") == (700.0, 2)
    assert screen.incumbent(found[1:2], "gzip_size_bytes") is None


def test_a_trial_goes_on_within_the_margin_and_stops_past_it() -> None:
    assert screen.verdict(1040.0, (1000.0, 4), "gzip_size_bytes", 0.05) is None
    assert screen.verdict(5000.0, None, "gzip_size_bytes", 0.05) is None
    reason = screen.verdict(1100.0, (1000.0, 4), "gzip_size_bytes", 0.05)
    assert reason is not None and "trial-4's 1,000" in reason and "1,100" in reason


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Digits, a tiny trained baseline and its store, once for the module."""
    root = tmp_path_factory.mktemp("screen")
    params_file = root / "params.yaml"
    params_file.write_text(yaml.safe_dump({
        "data": {"source": "digits", "output_dir": str(root / "prepared"), "max_samples": 400},
        "train": {"epochs": 1, "batch_size": 32},
        "search": {"pruner": {"screen": True}},
        "variants": [{"name": "int8", "convert": {"quantization": "int8"}}],
        "benchmark": {"delegates": ["xnnpack"], "warmup_runs": 1, "timed_runs": 2,
                      "cold_start": False},
    }))
    params = checks.load_checked_params(params_file)
    store = ArtifactStore(root / "cache")
    data = steps.prepare(params, store)
    return {"root": root, "params": params, "store": store, "data": data,
            "baseline": steps.train_baseline(params, data, store)}


def test_the_screened_size_is_close_to_the_full_builds(workspace: dict[str, Any]) -> None:
    params, baseline, data = (workspace[k] for k in ("params", "baseline", "data"))
    variant = VariantConfig(name="pruned-int8", **PRUNED_INT8)
    estimate = screen.screened_size(variant, params, baseline, data, "gzip_size_bytes")
    build = steps.build(variant, params, baseline, data, workspace["store"],
                        keys.build_key(baseline.key, variant))
    full = gzip_size_bytes(Path(build.tflite_path).read_bytes())
    # Two batches instead of the split: the same sparsity and int8 weights, other values.
    assert abs(estimate / full - 1) < 0.1, (estimate, full)


def _study_with_incumbent(params: Any, storage: str, size: float,
                          name: str = "screened") -> str:
    """A study whose one finished trial is feasible at `size` B gzip."""
    import optuna

    study = optuna.create_study(study_name=name, storage=storage)
    trial = study.ask()
    trial.set_user_attr(studies.RESULT_ATTR, _result(trial.number, objective.COMPLETE, size))
    study.tell(trial, size)
    return name


def test_a_trial_larger_than_the_incumbent_stops_before_fine_tuning(
        workspace: dict[str, Any], tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_TFLITE_ISOLATE", "0")  # in this process: no TF child start
    params, baseline, store = (workspace[k] for k in ("params", "baseline", "store"))
    storage = f"sqlite:///{workspace['root'] / 'optuna.db'}"
    name = _study_with_incumbent(params, storage, 1000.0)  # far below any real model
    with mlflow.start_run(run_name="search") as parent:
        parent_run_id = parent.info.run_id
    context = TrialContext(params, baseline, workspace["data"], store, tracking_uri,
                           parent_run_id, {}, study_name=name, storage=storage)
    variant = VariantConfig(name="trial-1", **{**PRUNED_INT8, "compress": {
        "prune": {"final_sparsity": 0.6, "epochs": 2}}})

    result = run_trial(1, variant, {}, context)

    assert result.state == objective.PRUNED, (result.state, result.error)
    assert "screened before fine-tuning" in result.error and "trial-0's 1,000" in result.error
    assert steps.stored_build(store, keys.build_key(baseline.key, variant)) is None
    run = mlflow.get_run(result.run_id)
    assert run.info.status == "KILLED"
    assert run.data.tags[FAILED_STEP_TAG] == "screen"

    # Screen off: the same trial builds and is measured.
    params_off = params.model_copy(update={"search": params.search.model_copy(update={
        "pruner": params.search.pruner.model_copy(update={"screen": False})})})
    context_off = TrialContext(params_off, baseline, workspace["data"], store, tracking_uri,
                               parent_run_id, {}, study_name=name, storage=storage)
    result = run_trial(2, variant.model_copy(update={"name": "trial-2"}), {}, context_off)
    assert result.state in (objective.COMPLETE, objective.INFEASIBLE), result.error
    assert result.screened is None

    # Screen on, and the incumbent larger: screened, then built (the estimate recorded).
    bigger = _study_with_incumbent(params, storage, 1e9, "roomy")
    context = TrialContext(params, baseline, workspace["data"], store, tracking_uri,
                           parent_run_id, {}, study_name=bigger, storage=storage)
    variant = variant.model_copy(update={"name": "trial-3", "compress": variant.compress.model_copy(
        update={"prune": variant.compress.prune.model_copy(update={"final_sparsity": 0.7})})})
    result = run_trial(3, variant, {}, context)
    assert result.state in (objective.COMPLETE, objective.INFEASIBLE), result.error
    assert abs(result.screened / result.metrics["gzip_size_bytes"] - 1) < 0.1
