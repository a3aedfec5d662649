"""Faults around a real `mlflow-tflite run` subprocess: Ctrl-C to its process group, kill -9,
an unreachable or unwritable tracking store, a deleted experiment."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml

from mlflow_tflite.cli import main
from mlflow_tflite.tracking.layout import ERROR_TAG, FLOW_ROLE, ROLE_TAG
from tests.cli.faults import Command, run_command, wait_gone
from tests.flows.conftest import TINY_PARAMS
from tests.servers import free_port

FAST = {**TINY_PARAMS, "variants": TINY_PARAMS["variants"][:2],
        "benchmark": {**TINY_PARAMS["benchmark"], "cold_start": False}}


def _params(directory: Path, **changes: object) -> Path:
    path = directory / "params.yaml"
    path.write_text(yaml.safe_dump({**FAST, **changes}, sort_keys=False))
    return path


def _runs(uri: str) -> list:
    client = mlflow.MlflowClient(uri)
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


@pytest.mark.slow
@pytest.mark.alone
def test_ctrl_c_to_the_process_group_stops_run_in_seconds_and_leaves_nothing(tmp_path: Path):
    _params(tmp_path)
    command = Command(["run", "--params", "params.yaml"], tmp_path)
    try:
        command.wait_for("Task run 'train-baseline")
        sent = command.signal(signal.SIGINT)  # what a terminal sends on Ctrl-C
        outcome = command.finish(timeout=60, since=sent)
        left = wait_gone(command.mark, timeout=5)
    finally:
        command.kill()
    assert outcome.status == 130, outcome.lines[-20:]
    assert outcome.last_line == "mlflow-tflite run: interrupted"
    assert outcome.seconds < 10
    assert left == []
    runs = _runs(f"sqlite:///{tmp_path / 'mlflow.db'}")
    parent = [r for r in runs if r.data.tags.get(ROLE_TAG) == FLOW_ROLE]
    assert [r.info.status for r in parent] == ["FAILED"]
    assert parent[0].data.tags[ERROR_TAG] == "interrupted"
    assert not [r for r in runs if r.info.status == "RUNNING"]


@pytest.mark.slow
def test_after_kill_9_no_server_outlives_the_command_and_the_next_run_ends_the_stale_run(
    tmp_path: Path,
):
    _params(tmp_path)
    command = Command(["run", "--params", "params.yaml"], tmp_path)
    try:
        command.wait_for("Task run 'build-")  # the baseline is stored by now
        command.signal(signal.SIGKILL, group=False)
        command.process.wait()
        left = wait_gone(command.mark, timeout=10)
    finally:
        command.kill()
    assert left == []  # the Prefect server went with its parent
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    [stale] = [r for r in _runs(uri) if r.info.status == "RUNNING"
               and r.data.tags.get(ROLE_TAG) == FLOW_ROLE]

    again = run_command(["run", "--params", "params.yaml"], tmp_path)
    assert again.status == 0, again.lines[-20:]
    text = "\n".join(again.lines)
    assert f"MLflow run {stale.info.run_id} was left RUNNING by a process that is gone" in text
    assert "baseline reused" in text
    ended = mlflow.MlflowClient(uri).get_run(stale.info.run_id)
    assert ended.info.status == "FAILED"
    assert ended.data.tags[ERROR_TAG].startswith("stale: process ")
    assert not [r for r in _runs(uri) if r.info.status == "RUNNING"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("http://127.0.0.1:{port}", "cannot connect to 127.0.0.1:{port} (Connection refused)"),
        ("sqlite:////proc/mlflow.db", "cannot create files in /proc"),
    ],
)
def test_an_unreachable_or_unwritable_store_fails_in_seconds_before_any_work(
    tmp_path: Path, uri: str, message: str
):
    port = free_port()
    uri, message = uri.format(port=port), message.format(port=port)
    _params(tmp_path, mlflow={**FAST["mlflow"], "tracking_uri": uri})
    outcome = run_command(["run", "--params", "params.yaml"], tmp_path, timeout=120)
    assert outcome.status == 1
    assert outcome.last_line.startswith(f"mlflow-tflite run: error: {uri}: {message}")
    assert len([line for line in outcome.lines if "I0000" not in line]) == 1, outcome.lines
    assert outcome.seconds < 30
    assert not (tmp_path / "data").exists()  # before any work


def test_a_deleted_experiment_is_named_with_the_fix_and_not_retried(
    tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    from mlflow.exceptions import MlflowException

    from mlflow_tflite.tracking.store import is_permanent

    client = mlflow.MlflowClient()
    experiment = client.create_experiment(FAST["mlflow"]["experiment"])
    client.delete_experiment(experiment)
    _params(tmp_path)
    started = time.monotonic()
    assert main(["run", "--params", "params.yaml"]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == (
        f"mlflow-tflite run: error: {tracking_uri}: experiment 'flow-tests' is deleted; "
        f"restore it (mlflow experiments restore --experiment-id {experiment}) or set "
        "mlflow.experiment to another name")
    assert time.monotonic() - started < 30
    assert not (tmp_path / "data").exists()
    # What the flow's tracking tasks would meet: a permanent error, so not retried.
    with pytest.raises(MlflowException) as raised:
        client.create_run(experiment)
    assert is_permanent(raised.value)


def test_an_error_raised_on_the_way_up_from_a_signal_still_ends_as_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A library may turn the KeyboardInterrupt into an error of its own (Prefect's task
    engine: `ValueError: Task run is not set`): still `interrupted`, status 130, runs FAILED."""
    import os

    from mlflow_tflite.cli import guard
    from mlflow_tflite.config import load_params
    from mlflow_tflite.errors import SIGNAL_RECEIVED, is_interrupt
    from mlflow_tflite.tracking.store import owner_tags

    monkeypatch.chdir(tmp_path)
    params = load_params(_params(tmp_path))
    with (pytest.raises(ValueError, match="Task run is not set") as raised,
          guard.tracked(params) as experiment_id):
        run = mlflow.MlflowClient().create_run(experiment_id, tags=owner_tags())
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except KeyboardInterrupt:
            raise ValueError("Task run is not set") from None
    assert is_interrupt(raised.value)
    ended = mlflow.MlflowClient().get_run(run.info.run_id)
    assert ended.info.status == "FAILED" and ended.data.tags[ERROR_TAG] == guard.INTERRUPTED
    SIGNAL_RECEIVED.clear()
    assert not is_interrupt(ValueError("Task run is not set"))


def test_a_signal_swallowed_in_a_weakref_callback_still_stops_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
):
    """The garbage collector runs weakref callbacks wherever the main thread is; Python
    only prints `Exception ignored` for a KeyboardInterrupt raised in one and goes on (a
    search once ran its whole budget after such a Ctrl-C). The next training step raises
    it, the runs end FAILED, and the console shows no traceback."""
    import os
    import weakref

    from mlflow_tflite._tf import import_keras
    from mlflow_tflite.cli import guard
    from mlflow_tflite.config import load_params
    from mlflow_tflite.errors import SIGNAL_RECEIVED
    from mlflow_tflite.tracking.store import owner_tags
    from mlflow_tflite.train.fit import epoch_logger
    from tests.helpers import tiny_cnn

    monkeypatch.chdir(tmp_path)
    params = load_params(_params(tmp_path))
    model = tiny_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = np.zeros((64, 8, 8, 1), np.float32), np.zeros(64, np.int64)
    batches: list[int] = []
    went_on = False
    try:
        with pytest.raises(KeyboardInterrupt), guard.tracked(params) as experiment_id:
            run = mlflow.MlflowClient().create_run(experiment_id, tags=owner_tags())

            class Collected:
                pass

            collected = Collected()
            watch = weakref.ref(collected, lambda _: os.kill(os.getpid(), signal.SIGTERM))
            del collected  # the callback runs here and its KeyboardInterrupt is lost
            went_on = True
            recorder = import_keras().callbacks.LambdaCallback(
                on_train_batch_end=lambda batch, logs: batches.append(batch))
            model.fit(x, y, batch_size=8, epochs=50, verbose=0,
                      callbacks=[recorder, epoch_logger(print, 50)])
        assert watch() is None and went_on and SIGNAL_RECEIVED.is_set()
        assert batches == [0]  # the first step's end raised it
        ended = mlflow.MlflowClient().get_run(run.info.run_id)
        assert ended.info.status == "FAILED" and ended.data.tags[ERROR_TAG] == guard.INTERRUPTED
        assert "Exception ignored" not in capfd.readouterr().err
    finally:
        # Left set, it would interrupt the next test's training in this process.
        SIGNAL_RECEIVED.clear()
