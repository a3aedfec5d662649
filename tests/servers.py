"""Start real servers for tests: PostgreSQL databases and `mlflow server` processes."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

POSTGRES_HOST = os.environ.get("MLFLOW_TFLITE_TEST_PG_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("MLFLOW_TFLITE_TEST_PG_PORT", "5432"))
POSTGRES_USER = os.environ.get("MLFLOW_TFLITE_TEST_PG_USER", "postgres")
POSTGRES_ADMIN_DB = os.environ.get("MLFLOW_TFLITE_TEST_PG_DB", "test")


BIN_DIR = Path(sys.executable).parent


def venv_env(**overrides: str) -> dict[str, str]:
    """This process's environment with the venv's console scripts first on PATH
    (`mlflow`, `mlflow-tflite`, `dvc`), plus `overrides`."""
    path = f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, **overrides}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _admin_connection():
    import psycopg2

    connection = psycopg2.connect(
        host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, dbname=POSTGRES_ADMIN_DB
    )
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    return connection


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create a uniquely named database; yield its SQLAlchemy URI; drop it afterwards."""
    name = f"mlflow_tflite_{uuid.uuid4().hex[:12]}"
    connection = _admin_connection()
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield (f"postgresql://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.close()


@dataclass(frozen=True)
class MlflowServer:
    url: str
    backend_store_uri: str
    artifacts_destination: Path
    log_file: Path


def wait_for_http(
    url: str, process: subprocess.Popen, log_file: Path, timeout: float = 120
) -> None:
    """Poll `url` until it answers 200; fail with the server log if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}:\n{log_file.read_text()[-3000:]}"
            )
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {timeout}s:\n{log_file.read_text()[-3000:]}")


@contextlib.contextmanager
def start_mlflow_server(backend_store_uri: str, artifacts: Path) -> Iterator[MlflowServer]:
    """Run `mlflow server` with proxied artifacts on a free loopback port."""
    port = free_port()
    log_file = artifacts.parent / f"mlflow-server-{port}.log"
    env = venv_env(MLFLOW_DISABLE_TELEMETRY="true")
    env.pop("MLFLOW_TRACKING_URI", None)
    with open(log_file, "w") as log:
        process = subprocess.Popen(
            [
                str(BIN_DIR / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--backend-store-uri",
                backend_store_uri,
                "--artifacts-destination",
                str(artifacts),
                "--serve-artifacts",
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", process, log_file)
        yield MlflowServer(url, backend_store_uri, artifacts, log_file)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
