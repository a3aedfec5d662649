"""A per-model promotion lock built on the one registry write MLflow makes atomic.

MLflow has no compare-and-set for aliases or tags, but creating a registered model is an
INSERT on a primary key: of two concurrent `create_registered_model` calls with one name,
exactly one succeeds, on SQLite, PostgreSQL and MySQL alike, directly or through
`mlflow server`. So the lock is a registered model named `<model>.promotion-lock`, created
to acquire and deleted to release. It carries a lease (`expires_at`): a holder that died
leaves a lock others may break once the lease has passed.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import random
import socket
import time
import uuid
from collections.abc import Iterator

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    ErrorCode,
)

from mlflow_tflite.tracking.layout import LOCK_EXPIRES_TAG, LOCK_HOLDER_TAG

LOCK_SUFFIX = ".promotion-lock"


class LockTimeout(TimeoutError):
    """Another promotion of the same model held the lock for too long."""


def lock_name(model_name: str) -> str:
    return f"{model_name}{LOCK_SUFFIX}"


def _code(error: MlflowException) -> str:
    return error.error_code


def _holder() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user database entry (containers)
        user = "unknown"
    return f"{user}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _break_if_stale(client: MlflowClient, name: str) -> None:
    try:
        lock = client.get_registered_model(name)
    except MlflowException as error:
        if _code(error) == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return
        raise
    expires = float(lock.tags.get(LOCK_EXPIRES_TAG, "inf"))
    if time.time() > expires:
        # A holder that outlived its lease has crashed; deleting lets the next create win.
        with contextlib.suppress(MlflowException):
            client.delete_registered_model(name)


@contextlib.contextmanager
def registry_lock(
    client: MlflowClient,
    model_name: str,
    *,
    timeout_s: float = 120.0,
    lease_s: float = 60.0,
) -> Iterator[str]:
    """Hold the promotion lock of `model_name`; yields the holder id.

    Raises:
        LockTimeout: the lock stayed taken for `timeout_s` seconds.
    """
    name = lock_name(model_name)
    holder = _holder()
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        try:
            client.create_registered_model(
                name,
                tags={LOCK_HOLDER_TAG: holder, LOCK_EXPIRES_TAG: f"{time.time() + lease_s:.3f}"},
                description=(
                    f"Lock held by mlflow-tflite while it moves aliases of {model_name!r}; "
                    f"deleted when done. Safe to delete once {LOCK_EXPIRES_TAG} has passed."
                ),
            )
            break
        except MlflowException as error:
            # DOES_NOT_EXIST: the store saw the duplicate, then the holder released it.
            if _code(error) not in (
                ErrorCode.Name(RESOURCE_ALREADY_EXISTS),
                ErrorCode.Name(RESOURCE_DOES_NOT_EXIST),
            ):
                raise
        if time.monotonic() >= deadline:
            raise LockTimeout(
                f"another promotion of {model_name!r} held the registry lock {name!r} for "
                f"{timeout_s:g}s; if no promotion is running, delete that registered model"
            )
        _break_if_stale(client, name)
        time.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(delay * 2, 1.0)
    try:
        yield holder
    finally:
        try:
            current = client.get_registered_model(name)
            if current.tags.get(LOCK_HOLDER_TAG) == holder:
                client.delete_registered_model(name)
        except MlflowException as error:
            if _code(error) != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
                raise
