"""The `search` flow end to end: real Optuna storage (SQLite, PostgreSQL), Prefect, MLflow,
TensorFlow and LiteRT on the digits data with one-epoch fine-tunes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.flows.conftest import TINY_PARAMS, child_runs, module_workspace

pytestmark = pytest.mark.slow

SPACE: dict[str, Any] = {
    "prune": {"use": {"choices": [True, False]}, "final_sparsity": {"low": 0.3, "high": 0.6},
              "epochs": 1},
    "cluster": {"use": {"choices": [False, True]}, "clusters": {"low": 4, "high": 8},
                "epochs": 1},
    "convert": {"quantization": {"choices": ["int8", "dynamic"]}},
}


@dataclass
class Workspace:
    root: Path
    uri: str

    def params(self, name: str, **search: Any) -> Path:
        path = self.root / name
        # No latency gate: on a model this small, int8 against fp32 is timing noise (a busy
        # machine once made every trial infeasible); these tests are about the bookkeeping.
        settings = {"space": SPACE, "budget": {"trials": 3, "minutes": None},
                    "pruner": {"max_val_drop": 0.5},
                    "constraints": {"max_accuracy_drop": 0.02}, **search}
        benchmark = {**TINY_PARAMS["benchmark"], "cold_start": False}
        path.write_text(yaml.safe_dump({**TINY_PARAMS, "variants": TINY_PARAMS["variants"][:1],
                                        "benchmark": benchmark, "search": settings}))
        return path


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    for root, uri in module_workspace(tmp_path_factory, "search"):
        yield Workspace(root, uri)


def _search(params: Path, **options: Any) -> dict[str, Any]:
    from mlflow_tflite_flows.search import run_search

    return run_search(params, **options)


def _trials(parent_run_id: str) -> dict[int, Any]:
    from mlflow_tflite.search.runs import trial_runs

    return trial_runs(parent_run_id)


def test_a_tiny_search_logs_a_child_run_per_trial_and_a_pareto_table(
    workspace: Workspace,
) -> None:
    import mlflow

    params = workspace.params("tiny.yaml")
    result = _search(params)
    runs = _trials(result["parent_run_id"])
    assert sorted(runs) == [0, 1, 2] and result["ran"] == 3
    for number, run in runs.items():
        tags = run.data.tags
        assert tags["trial"] == str(number) and tags["trial_state"] in ("complete", "infeasible")
        assert {"technique", "quantization", "delegate", "data_version", "git_commit",
                "mlflow_tflite.variant"} <= set(tags)
        assert "convert.quantization" in run.data.params
        assert {"gzip_size_bytes", "accuracy", "accuracy_delta", "latency_p50_ms"} <= set(
            run.data.metrics)
    front = set(result["pareto"])
    assert front and {n for n, r in runs.items()
                      if r.data.tags["mlflow_tflite.role"] == "variant"} == front
    # Only the candidates carry a logged model; every trial's file is in the artifact store.
    runs = _trials(result["parent_run_id"])
    assert {n for n, r in runs.items() if "mlflow_tflite.model_uri" in r.data.tags} == front
    assert all(r.info.status == "FINISHED" for r in runs.values())
    client = mlflow.MlflowClient()
    # Every trial logs the per-layer table; only the candidates also get its plot.
    for number, run in runs.items():
        logged = {a.path for a in client.list_artifacts(run.info.run_id)}
        if run.data.tags["quantization"] == "none":
            continue
        assert "layer_errors.json" in logged, number
        assert ("layer_errors.png" in logged) == (number in front), (number, logged)
    artifacts = {a.path for a in client.list_artifacts(result["parent_run_id"], "search")}
    assert {"search/search_pareto.csv", "search/search_pareto.md", "search/search_pareto.png",
            "search/pareto.json", "search/search_history.png"} <= artifacts
    parent = client.get_run(result["parent_run_id"])
    table = client.load_table(parent.info.experiment_id, "search/pareto.json",
                              run_ids=[result["parent_run_id"]])
    assert sorted(table["trial"]) == sorted(front)
    # "N x smaller" is gzip over gzip, as compression_ratio is raw over raw: never mixed.
    assert result["fp32_gzip_size_bytes"] < result["fp32_size_bytes"]
    for row in table.to_dict("records"):
        assert row["gzip_compression"] == pytest.approx(
            result["fp32_gzip_size_bytes"] / row["gzip_size_bytes"], abs=0.005)
    assert result["decision"]["targets"][0]["winner"].startswith("trial-")

    # A found trial written back as a named variant: `run` reproduces it from the store.
    from mlflow_tflite.search.results import study_results_from_dicts
    from mlflow_tflite.search.runs import save_variants
    from mlflow_tflite_flows.optimize import run_flow

    found = [r for r in study_results_from_dicts(result["trials"]) if r.number in front]
    saved = workspace.root / "found.yaml"
    added = save_variants(params, [], found[:1], saved)
    assert added == [f"trial-{found[0].number}"]
    rerun = run_flow(saved)
    reproduced = {v["name"]: v for v in rerun["variants"]}[added[0]]
    assert reproduced["reused"] and added[0] not in rerun["ran"]["compress"]
    assert reproduced["metrics"]["gzip_size_bytes"] == found[0].metrics["gzip_size_bytes"]

    # Called again with a larger budget: the same study and parent run, one new trial only.
    more = _search(params, trials=4)
    assert more["parent_run_id"] == result["parent_run_id"] and more["ran"] == 1
    assert sorted(_trials(result["parent_run_id"])) == [0, 1, 2, 3]
    # A finished search is not run again.
    assert _search(params, trials=4)["ran"] == 0


@pytest.fixture
def optuna_postgres() -> Iterator[str]:
    """A PostgreSQL database of the study's own: Optuna and MLflow both keep an alembic
    schema version, so they cannot share one database (the session's serves MLflow)."""
    from tests.servers import fresh_postgres_database

    with fresh_postgres_database() as uri:
        yield uri


def test_pruned_and_infeasible_trials_are_logged_as_such(
    workspace: Workspace, optuna_postgres: str
) -> None:
    postgres_uri = optuna_postgres
    space = {"prune": {"use": {"choices": [True, False]}, "final_sparsity": 0.95,
                       "schedule": "constant", "epochs": 1},
             "convert": {"quantization": {"choices": ["int8", "dynamic"]}}}
    params = workspace.params(
        "harsh.yaml", space=space, sampler="random", seed=3, parallel=1, storage=postgres_uri,
        pruner={"max_val_drop": 0.0}, constraints={"max_gzip_size_bytes": 1000},
        budget={"trials": 4, "minutes": None})
    result = _search(params)
    assert result["storage"] == postgres_uri
    states = {n: r.data.tags["trial_state"] for n, r in _trials(result["parent_run_id"]).items()}
    assert set(states.values()) == {"pruned", "infeasible"}, states
    runs = _trials(result["parent_run_id"])
    pruned = next(r for r in runs.values() if r.data.tags["trial_state"] == "pruned")
    assert pruned.info.status == "KILLED" and "val_accuracy" in pruned.data.metrics
    assert pruned.data.tags["mlflow_tflite.error"].startswith("after prune epoch 1: val_accuracy")
    infeasible = next(r for r in runs.values() if r.data.tags["trial_state"] == "infeasible")
    assert infeasible.info.status == "FINISHED"
    # Nothing feasible: the closest trial is reported and registered as challenger.
    assert result["pareto"] == [] and result["closest"]["failures"][0].startswith(
        "gzip_size_bytes")
    target = result["decision"]["targets"][0]
    assert target["outcome"] == "no_winner"
    assert target["closest"] == f"trial-{result['closest']['trial']}"


def _has_a_study(path: Path) -> bool:
    """Whether the SQLite file holds a created study, read without writing anything."""
    import contextlib
    import sqlite3

    if not path.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return db.execute("SELECT count(*) FROM studies").fetchone()[0] > 0
    except sqlite3.Error:  # not created yet, or locked by the writer for a moment
        return False


def test_a_killed_search_resumes_without_repeating_finished_trials(
    workspace: Workspace,
) -> None:
    import optuna
    from prefect.settings import PREFECT_API_URL

    storage = f"sqlite:///{workspace.root / 'killed.db'}"
    params = workspace.params("killed.yaml", parallel=1, storage=storage)
    cache = workspace.root / "killed-cache"
    root = str(Path(__file__).resolve().parents[2])  # this checkout, whatever is installed
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or "",
           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from mlflow_tflite.cli import main; "
         "sys.exit(main(sys.argv[1:]))", "search", "--params", str(params),
         # A store of its own: with the module's store every trial is already built and
         # the search can end within one poll, before it can be killed.
         "--cache-dir", str(cache)],
        cwd=workspace.root, env=env, stdout=subprocess.DEVNULL,
        stderr=(workspace.root / "killed.log").open("w"))
    deadline = time.monotonic() + 300
    name = None
    try:
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.25)
            # Optuna opens a database by creating its schema: wait, read-only, until the
            # search process has made it, or the two race on alembic_version.
            exists = _has_a_study(workspace.root / "killed.db")
            summaries = optuna.get_all_study_summaries(storage) if exists else []
            if summaries:
                name = summaries[0].study_name
                study = optuna.load_study(study_name=name, storage=storage)
                states = [t.state for t in study.trials]
                asked = [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING
                         and "mlflow_tflite.owner" in t.user_attrs]
                if states.count(optuna.trial.TrialState.COMPLETE) >= 1 and asked:
                    break
        assert process.poll() is None, (workspace.root / "killed.log").read_text()[-2000:]
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert name is not None, "the search never started a trial"
    before = optuna.load_study(study_name=name, storage=storage)
    finished = {t.number: t.params for t in before.trials
                if t.state == optuna.trial.TrialState.COMPLETE}
    running = {t.number: t.params for t in before.trials
               if t.state == optuna.trial.TrialState.RUNNING}

    result = _search(params, cache_dir=str(cache))
    assert result["study"] == name
    assert result["recovered"] == sorted(running)
    after = optuna.load_study(study_name=name, storage=storage)
    done = [t for t in after.trials if t.state != optuna.trial.TrialState.FAIL]
    assert len(done) == 3
    for number, values in finished.items():  # finished trials kept, never run again
        assert after.trials[number].params == values
    assert result["ran"] == 3 - len(finished)
    runs = child_runs(result["parent_run_id"])
    assert all(f"trial-{n}" in runs for n in finished)
    retried = [t for t in after.trials if "mlflow_tflite.retry_of" in t.user_attrs]
    # Re-asked with what the lost trial had sampled (a kill between ask and sampling leaves
    # none, or some, of its parameters; the re-ask samples the rest).
    assert [{k: t.params[k] for k in lost} for t, lost in zip(
        retried, running.values(), strict=True)] == list(running.values())

