"""The study: named from data, baseline and space; real SQLite and PostgreSQL storage;
trials a killed process left RUNNING are failed and asked again."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from mlflow_tflite.config import parse_params
from mlflow_tflite.search import study as studies

SPACE = {"prune": {"final_sparsity": {"low": 0.5, "high": 0.9}}}


def _params(**search: object):
    return parse_params({"variants": [{"name": "fp32"}],
                         "search": {"space": SPACE, **search}})


def test_the_name_follows_data_baseline_and_space_not_the_budget() -> None:
    name = studies.study_name(_params(), "a" * 64, "b" * 24)
    assert name.startswith("mlflow-tflite-aaaaaaaa-bbbbbbbb-")
    assert studies.study_name(_params(budget={"trials": 3}), "a" * 64, "b" * 24) == name
    wider = parse_params({"variants": [{"name": "fp32"}], "search": {
        "space": {"prune": {"final_sparsity": {"low": 0.5, "high": 0.95}}}}})
    assert studies.study_name(wider, "a" * 64, "b" * 24) != name
    assert studies.study_name(_params(), "c" * 64, "b" * 24) != name


def test_the_default_storage_sits_beside_a_sqlite_mlflow_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    assert studies.default_storage(uri) == f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}"


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_killed_search_resumes_and_re_asks_what_it_left_running(storage: str) -> None:
    params = _params(budget={"trials": 3, "minutes": None})
    study = studies.open_study(params, "resume-me", storage)
    done = study.ask({"prune.final_sparsity": optuna.distributions.FloatDistribution(0.5, 0.9)})
    study.tell(done, [1.0])
    lost = study.ask()
    lost.suggest_float("prune.final_sparsity", 0.5, 0.9)
    lost.set_user_attr(studies.OWNER_ATTR, f"{socket.gethostname()}:{_dead_pid()}")
    alive = study.ask()
    alive.set_user_attr(studies.OWNER_ATTR, studies.owner())

    again = studies.open_study(params, "resume-me", storage)  # a new process, same study
    assert [t.number for t in again.trials] == [0, 1, 2]
    assert studies.recover_stale(again) == [1]
    states = {t.number: t.state for t in again.get_trials(deepcopy=False)}
    assert states[1] == TrialState.FAIL and states[2] == TrialState.RUNNING
    budget = studies.budget(again, params)
    assert budget.used_trials == 1  # the abandoned trial does not count
    retried = again.ask()
    assert retried.suggest_float("prune.final_sparsity", 0.5, 0.9) == pytest.approx(
        lost.params["prune.final_sparsity"])
    assert retried.user_attrs["mlflow_tflite.retry_of"] == 1


def test_the_budget_counts_the_whole_study(tmp_path: Path) -> None:
    params = _params(budget={"trials": 2, "minutes": 10})
    study = studies.open_study(params, "budget", f"sqlite:///{tmp_path / 'optuna.db'}")
    budget = studies.budget(study, params)
    assert budget.allows(1) and not budget.allows(2)
    study.set_user_attr(studies.ELAPSED_ATTR, 601.0)
    assert studies.budget(study, params, trials=5).exhausted  # ten minutes already spent
    assert not studies.budget(study, params, trials=5, minutes=11).exhausted


def test_a_database_that_holds_an_mlflow_store_is_refused_in_one_line() -> None:
    import mlflow

    from tests.servers import fresh_postgres_database

    with fresh_postgres_database() as uri:
        mlflow.MlflowClient(uri).search_experiments()  # migrates the MLflow schema there
        with pytest.raises(ValueError, match=r"^search\.storage postgresql://\S+: the database "
                           r"holds another application's schema version") as error:
            studies.open_study(_params(), "shared-database", uri)
    assert "\n" not in str(error.value)
