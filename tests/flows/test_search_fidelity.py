"""Multi-fidelity pruning (`search.pruner.type: successive_halving`) end to end: real Optuna
storage, Prefect, MLflow, TensorFlow and LiteRT on the digits data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.flows.conftest import TINY_PARAMS, module_workspace

pytestmark = pytest.mark.slow

# Two prune epochs then two cluster epochs: judged at trial epochs 2, 3 and 4, so a trial
# meets rungs 0-2 (min_resource 1, reduction_factor 2) before it finishes.
SPACE: dict[str, Any] = {
    "prune": {"final_sparsity": {"low": 0.3, "high": 0.9}, "epochs": 2},
    "cluster": {"use": True, "clusters": {"low": 4, "high": 8}, "epochs": 2},
    "convert": {"quantization": "int8", "io_type": "int8"},
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    for root, _ in module_workspace(tmp_path_factory, "fidelity"):
        yield root


def _params(root: Path, pruner: dict[str, Any], trials: int) -> Path:
    path = root / f"{pruner.get('type', 'threshold')}.yaml"
    search = {"space": SPACE, "budget": {"trials": trials, "minutes": None}, "parallel": 1,
              "warm_start": False, "sampler": "random", "seed": 1, "pruner": pruner,
              "constraints": {"max_accuracy_drop": 1.0}}
    benchmark = {**TINY_PARAMS["benchmark"], "cold_start": False}
    path.write_text(yaml.safe_dump({**TINY_PARAMS, "variants": TINY_PARAMS["variants"][:1],
                                    "benchmark": benchmark, "search": search}))
    return path


def test_successive_halving_prunes_trials_at_a_rung_on_the_cumulative_epoch(
    workspace: Path,
) -> None:
    import optuna

    from mlflow_tflite.search.runs import trial_runs
    from mlflow_tflite_flows.search import run_search

    pruner = {"type": "successive_halving", "max_val_drop": None, "min_resource": 1,
              "reduction_factor": 2}
    result = run_search(_params(workspace, pruner, trials=5))
    runs = trial_runs(result["parent_run_id"])
    pruned = [r for r in runs.values() if r.data.tags["trial_state"] == "pruned"]
    assert pruned, {n: r.data.tags["trial_state"] for n, r in runs.items()}
    for run in pruned:
        reason = run.data.tags["mlflow_tflite.error"]
        assert " successive_halving at epoch " in reason and "(rung " in reason, reason
        assert "at epoch 4" not in reason  # the last epoch: reported, never stopped at
        assert run.info.status == "KILLED"
    # Reported to the study by the trial's worker: validation error (the objective, gzip
    # size, is minimised) at the judged cumulative epochs, 2 (prune's last) then 3, 4.
    study = optuna.load_study(study_name=result["study"], storage=result["storage"])
    steps = {t.number: sorted(t.intermediate_values) for t in study.trials}
    assert all(s and s == [2, 3, 4][: len(s)] for s in steps.values()), steps
    told = {t.number: t.state.name for t in study.trials}
    assert {n for n, s in told.items() if s == "PRUNED"} == {
        int(r.data.tags["trial"]) for r in pruned}
    assert any(s == "COMPLETE" for s in told.values())


def test_the_size_screen_stops_trials_larger_than_the_smallest_feasible(
    workspace: Path,
) -> None:
    import optuna

    from mlflow_tflite.search.runs import trial_runs
    from mlflow_tflite_flows.search import run_search

    # The first trial (warm start) prunes 90%; the sampled ones prune less, so their
    # screened int8 models are larger than it.
    space = {"prune": {"final_sparsity": {"low": 0.3, "high": 0.9}, "epochs": 1},
             "convert": {"quantization": "int8", "io_type": "int8"}}
    variant = {"name": "pruned-int8", "compress": {"prune": {"final_sparsity": 0.9,
                                                             "epochs": 1}},
               "convert": {"quantization": "int8", "io_type": "int8"}}
    path = workspace / "screen.yaml"
    path.write_text(yaml.safe_dump({
        **TINY_PARAMS, "variants": [variant],
        "benchmark": {**TINY_PARAMS["benchmark"], "cold_start": False},
        "search": {"space": space, "budget": {"trials": 4, "minutes": None}, "parallel": 1,
                   "sampler": "random", "seed": 1, "constraints": {"max_accuracy_drop": 1.0},
                   "pruner": {"max_val_drop": 1.0, "screen": True}}}))
    result = run_search(path)

    runs = trial_runs(result["parent_run_id"])
    states = {n: r.data.tags["trial_state"] for n, r in runs.items()}
    assert states[0] == "complete", states
    screened = [r for r in runs.values() if "screened before fine-tuning" in
                r.data.tags.get("mlflow_tflite.error", "")]
    assert screened, {n: r.data.tags.get("mlflow_tflite.error") for n, r in runs.items()}
    for run in screened:
        assert "over 5% above trial-0's" in run.data.tags["mlflow_tflite.error"]
        assert run.data.tags["mlflow_tflite.failed_step"] == "screen"
        assert run.info.status == "KILLED"
    study = optuna.load_study(study_name=result["study"], storage=result["storage"])
    assert {t.number for t in study.trials if t.state.name == "PRUNED"} >= {
        int(r.data.tags["trial"]) for r in screened}
