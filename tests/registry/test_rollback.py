"""rollback: the previous champion comes back, with who and why on the versions."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from mlflow_tflite.config.promote import PromoteConfig
from mlflow_tflite.registry import RollbackError, promote_flow_run, rollback
from tests.registry.flowruns import metrics

POLICY = PromoteConfig.model_validate({"objective": ["size_bytes"]})


def champion_version(name: str, alias: str = "champion") -> str:
    return str(MlflowClient().get_model_version_by_alias(name, alias).version)


def test_rollback_restores_the_previous_champion_and_records_it(backend, flow, model_name) -> None:
    promote_flow_run(flow({"a": metrics(size_bytes=9_000)}), model_name, POLICY)
    promote_flow_run(flow({"b": metrics(size_bytes=5_000)}), model_name, POLICY)
    promote_flow_run(flow({"c": metrics(size_bytes=1_000)}), model_name, POLICY)
    assert champion_version(model_name) == "3"

    done = rollback(model_name, reason="bad on device", user="alice")

    assert (done.from_version, done.to_version, done.alias) == ("3", "2", "champion")
    assert champion_version(model_name) == "2"
    client = MlflowClient()
    restored = client.get_model_version(model_name, "2").tags
    assert restored["mlflow_tflite.rollback.user"] == "alice"
    assert restored["mlflow_tflite.rollback.reason"] == "bad on device"
    assert restored["mlflow_tflite.rollback.from_version"] == "3"
    assert restored["mlflow_tflite.rollback.at"]
    demoted = client.get_model_version(model_name, "3").tags["mlflow_tflite.rolled_back"]
    assert demoted == done.summary
    assert "from version 3 back to version 2 (by alice" in done.summary
    # Rolling back again walks further back along the chain.
    assert rollback(model_name, user="alice").to_version == "1"
    assert champion_version(model_name) == "1"


def test_rollback_without_a_previous_champion_is_a_clear_error(backend, flow, model_name) -> None:
    promote_flow_run(flow({"a": metrics()}), model_name, POLICY)
    with pytest.raises(RollbackError, match="has no previous champion to roll back to"):
        rollback(model_name)
    assert champion_version(model_name) == "1"


def test_rollback_without_a_champion_or_a_model_is_a_clear_error(sqlite_uri, model_name) -> None:
    with pytest.raises(RollbackError, match=f"no registered model '{model_name}'"):
        rollback(model_name)
    MlflowClient().create_registered_model(model_name)
    with pytest.raises(RollbackError, match="has no version with alias 'champion'"):
        rollback(model_name)


def test_rollback_of_a_target_moves_only_its_alias(sqlite_uri, flow, model_name) -> None:
    policy = PromoteConfig.model_validate(
        {"objective": ["size_bytes"], "targets": {"cpu": {}, "gpu": {}}}
    )
    promote_flow_run(flow({"a": metrics(size_bytes=9_000)}), model_name, policy)
    promote_flow_run(flow({"b": metrics(size_bytes=1_000)}), model_name, policy)
    done = rollback(model_name, "gpu", user="bob")
    assert (done.alias, done.to_version) == ("champion-gpu", "1")
    assert champion_version(model_name, "champion-gpu") == "1"
    assert champion_version(model_name, "champion-cpu") == "2"


def test_rollback_user_defaults_to_the_login_name(sqlite_uri, flow, model_name) -> None:
    import getpass

    promote_flow_run(flow({"a": metrics(size_bytes=9_000)}), model_name, POLICY)
    promote_flow_run(flow({"b": metrics(size_bytes=1_000)}), model_name, POLICY)
    assert rollback(model_name).user == getpass.getuser()
