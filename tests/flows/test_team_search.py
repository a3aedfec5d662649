"""A team's search: two `mlflow-tflite search` processes started together from two working
directories (as two machines would) on one new PostgreSQL study and one `mlflow server`;
and the trials on the `dask` (a real LocalCluster) and `processes` runners."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.flows.conftest import TINY_PARAMS

pytestmark = pytest.mark.slow

# Post-training quantization only: the cheapest trials there are.
PTQ_SPACE: dict[str, Any] = {
    "convert": {"quantization": {"choices": ["int8", "dynamic", "float16", "none"]}},
}
ROOT = str(Path(__file__).resolve().parents[2])  # this checkout, whatever is installed
TENSORFLOW_AT_EXIT = ("import atexit; atexit.register(lambda: print('tensorflow imported by "
                      "the command:', 'tensorflow' in sys.modules))")


def write_params(path: Path, experiment: str, **search: Any) -> Path:
    """Tiny search params: digits, one epoch, the PTQ space, `search` merged in."""
    settings = {"space": PTQ_SPACE, "budget": {"trials": 4, "minutes": None},
                "pruner": {"max_val_drop": 0.5}, **search}
    params = {**TINY_PARAMS, "variants": TINY_PARAMS["variants"][:1],
              "benchmark": {**TINY_PARAMS["benchmark"], "cold_start": False},
              "mlflow": {"experiment": experiment, "registered_model_name": experiment},
              "search": settings}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(params))
    return path


def _all_trial_runs(parent_run_id: str) -> list[Any]:
    """Every child run of the parent that carries a trial number (duplicates included)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    experiment = client.get_run(parent_run_id).info.experiment_id
    runs = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent_run_id}'",
                              max_results=1000)
    return [run for run in runs if "trial" in run.data.tags]


def _front(output: str) -> str:
    """The printed Pareto front table."""
    return output.split("Pareto front on", 1)[1].split("\nPromotion:", 1)[0]


def test_two_processes_started_together_share_one_study_parent_and_budget(
    tmp_path: Path, mlflow_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    import optuna
    from optuna.trial import TrialState
    from prefect.settings import PREFECT_API_URL

    from tests.servers import fresh_postgres_database

    trials = 6
    # The store check allows seconds per request: wake the server before both ask at once.
    mlflow.MlflowClient(mlflow_server.url).search_experiments()
    with fresh_postgres_database() as storage:
        env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or "",
               "MLFLOW_TRACKING_URI": mlflow_server.url,
               "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
        processes = []
        for machine in ("a", "b"):
            write_params(tmp_path / machine / "params.yaml", "team-search", storage=storage,
                         parallel=1, budget={"trials": trials, "minutes": None})
            processes.append(subprocess.Popen(
                [sys.executable, "-c", "import sys; from mlflow_tflite.cli import main; "
                 f"{TENSORFLOW_AT_EXIT}; sys.exit(main(sys.argv[1:]))", "search"],
                cwd=tmp_path / machine, env=env, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True))
        outputs = [process.communicate(timeout=900)[0] for process in processes]
        for process, output in zip(processes, outputs, strict=True):
            assert process.returncode == 0, output[-3000:]
            # Data, baseline, probe and trials ran in step processes, not in the command.
            assert "tensorflow imported by the command: False" in output, output[-3000:]

        (summary,) = optuna.get_all_study_summaries(storage)
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        found = study.get_trials()
        parent_run_id = study.user_attrs["mlflow_tflite.parent_run_id"]
    # The budget spent once, every trial number built once, by both processes.
    assert [t.number for t in found] == list(range(trials))
    assert all(t.state == TrialState.COMPLETE for t in found), found
    owners = {t.user_attrs["mlflow_tflite.owner"] for t in found}
    assert len(owners) == 2, owners
    # One parent run, one child run per trial.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    mlflow.set_tracking_uri(mlflow_server.url)
    try:
        runs = _all_trial_runs(parent_run_id)
        assert sorted(int(r.data.tags["trial"]) for r in runs) == list(range(trials))
        parents = mlflow.MlflowClient().search_runs(
            [runs[0].info.experiment_id], f"tags.mlflow_tflite.study = '{summary.study_name}'")
        assert [p.info.run_id for p in parents] == [parent_run_id]
        assert parents[0].info.status == "FINISHED"
    finally:
        mlflow.set_tracking_uri(None)
    # The same front, promoted once.
    assert _front(outputs[0]) == _front(outputs[1])
    assert sum("(by another process of this search)" in o for o in outputs) == 1


@pytest.mark.parametrize("runner", ["dask", "processes"])
def test_trials_run_on_worker_processes(
    runner: str, tmp_path: Path, tracking_uri: str
) -> None:
    from mlflow_tflite.search.runs import trial_runs
    from mlflow_tflite_flows.search import run_search

    params = write_params(tmp_path / "params.yaml", f"search-on-{runner}",
                          storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    result = run_search(params, runner=runner)
    runs = trial_runs(result["parent_run_id"])
    assert result["ran"] == 4 and sorted(runs) == [0, 1, 2, 3]
    assert {r.data.tags["trial_state"] for r in runs.values()} <= {"complete", "infeasible"}
    assert all(r.data.metrics["size_bytes"] > 0 for r in runs.values())
    assert result["pareto"]
