"""Ctrl-C that lands while the main thread is inside a write to the SQLite store.

Raised there, the KeyboardInterrupt interrupts SQLAlchemy mid-write: in its pool's reset it
prints "Exception during reset or similar" with a traceback, and a connection left holding
SQLite's write lock makes ending the runs wait out the store's 20-second busy timeout. The
command's handler (`cli.guard.tracked`) delivers such a signal again once the database call
has returned. A real SIGINT is sent from inside the write (a SQLAlchemy event on the real
store's engine), in a subprocess that uses the handler exactly as `mlflow-tflite run` does.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.cli.faults import foreground_signals

SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path

    import mlflow
    from sqlalchemy import event

    from mlflow_tflite.cli import guard
    from mlflow_tflite.config import load_params
    from mlflow_tflite.tracking.store import owner_tags

    where = sys.argv[2]
    params = load_params(Path(sys.argv[1]))
    client = mlflow.MlflowClient
    armed = []

    def in_write(conn, cursor, statement, parameters, context, executemany):
        if "INSERT INTO tags" in statement and "under-signal" in str(parameters):
            armed.append(True)
            if where == "write":
                os.kill(os.getpid(), signal.SIGINT)

    def in_reset(dbapi_connection, record, *rest):
        if armed and where == "reset":
            armed.clear()
            os.kill(os.getpid(), signal.SIGINT)

    started = None
    try:
        with guard.tracked(params) as experiment_id:
            run = client().create_run(experiment_id, tags=owner_tags())
            store = mlflow.tracking._tracking_service.utils._get_store()
            event.listen(store.engine, "before_cursor_execute", in_write)
            event.listen(store.engine.pool, "reset", in_reset)
            started = time.monotonic()
            client().set_tag(run.info.run_id, "under-signal", "1")
            time.sleep(60)
    except KeyboardInterrupt:
        print(f"interrupted after {time.monotonic() - started:.3f} s", flush=True)
    armed.clear()
    ended = client().get_run(run.info.run_id)
    print("status", ended.info.status, "tag", ended.data.tags.get("under-signal"), flush=True)
""")


@pytest.fixture(scope="module")
def store_params(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = Path(__file__).resolve().parents[2]
    work = tmp_path_factory.mktemp("interrupt-store")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["mlflow"]["tracking_uri"] = f"sqlite:///{work / 'mlflow.db'}"
    path = work / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


@pytest.mark.parametrize("where", ["write", "reset"])
def test_ctrl_c_inside_a_sqlite_write_waits_for_it_then_interrupts(store_params: Path,
                                                                   where: str):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(store_params), where],
                          capture_output=True, text=True, timeout=120,
                          preexec_fn=foreground_signals)
    out = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr[-2000:]
    interrupted = [line for line in out if line.startswith("interrupted after")]
    assert interrupted, done.stdout + done.stderr[-2000:]
    # Seconds, not the store's 20-second busy timeout, and not the 60-second sleep after it.
    assert float(interrupted[0].split()[2]) < 10
    # The write finished whole before the interrupt; the run was then ended as FAILED.
    assert "status FAILED tag 1" in out
    assert "Traceback" not in done.stderr and "Exception during reset" not in done.stderr
