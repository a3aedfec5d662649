"""The registry lock: exclusive, released, breakable only once its holder's lease is over."""

from __future__ import annotations

import time

import pytest
from mlflow import MlflowClient

from mlflow_tflite.registry.lock import LockTimeout, lock_name, registry_lock
from mlflow_tflite.tracking.layout import LOCK_EXPIRES_TAG as EXPIRES_TAG


def registered(client: MlflowClient) -> list[str]:
    return [m.name for m in client.search_registered_models()]


def test_the_lock_is_a_registered_model_while_held(backend, model_name) -> None:
    client = MlflowClient()
    with registry_lock(client, model_name) as holder:
        assert lock_name(model_name) in registered(client)
        assert holder
    assert lock_name(model_name) not in registered(client)


def test_a_held_lock_makes_the_next_promotion_time_out(backend, model_name) -> None:
    client = MlflowClient()
    with registry_lock(client, model_name):
        started = time.monotonic()
        with (
            pytest.raises(LockTimeout, match="held the registry lock"),
            registry_lock(client, model_name, timeout_s=0.5),
        ):
            pass
        assert time.monotonic() - started >= 0.5
    assert lock_name(model_name) not in registered(client)


def test_a_lock_left_by_a_dead_holder_is_broken_after_its_lease(sqlite_uri, model_name) -> None:
    client = MlflowClient()
    client.create_registered_model(
        lock_name(model_name), tags={EXPIRES_TAG: f"{time.time() - 1:.3f}"}
    )
    with registry_lock(client, model_name, timeout_s=5):
        pass
    assert lock_name(model_name) not in registered(client)
