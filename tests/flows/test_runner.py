"""Task-runner selection for the flow (the params.yaml `runner` section)."""

from __future__ import annotations

import logging

import pytest
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

from mlflow_tflite.config import RunnerConfig
from mlflow_tflite_flows.runner import make_task_runner


def test_threads_are_the_default():
    assert isinstance(make_task_runner(), ThreadPoolTaskRunner)
    assert isinstance(make_task_runner(RunnerConfig()), ThreadPoolTaskRunner)


def test_an_unknown_runner_is_named_in_the_error():
    with pytest.raises(ValueError, match="unknown task runner 'carrier-pigeon'; expected one of"):
        make_task_runner("carrier-pigeon")


def test_processes_get_the_configured_pool_size_and_the_tracking_uri():
    runner = make_task_runner(RunnerConfig(type="processes", workers=3),
                              tracking_uri="http://127.0.0.1:5000")
    assert isinstance(runner, ProcessPoolTaskRunner)
    assert runner._max_workers == 3
    (env,) = runner._initargs
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000"


def test_dask_starts_a_local_cluster_of_single_threaded_worker_processes():
    from prefect_dask import DaskTaskRunner

    runner = make_task_runner(RunnerConfig(type="dask", workers=2), tracking_uri="sqlite:///x.db")
    assert isinstance(runner, DaskTaskRunner)
    assert runner.cluster_kwargs["n_workers"] == 2
    assert runner.cluster_kwargs["threads_per_worker"] == 1
    assert runner.cluster_kwargs["env"]["MLFLOW_TRACKING_URI"] == "sqlite:///x.db"


def test_dask_with_an_address_uses_that_scheduler():
    runner = make_task_runner(RunnerConfig(type="dask", address="tcp://127.0.0.1:8786"))
    assert runner.address == "tcp://127.0.0.1:8786"
    assert not runner.cluster_kwargs


def test_the_thread_timeout_notice_is_not_repeated():
    make_task_runner("threads")
    logger = logging.getLogger("prefect.task_runs")
    notice = "Timeout of 5 seconds configured, but the task is running in a worker thread."
    records = [logging.LogRecord("prefect.task_runs", logging.WARNING, __file__, 1, notice, None,
                                 None) for _ in range(3)]
    assert [logger.filter(r) for r in records][1:] == [False, False]


def test_an_error_that_a_signal_became_does_not_wait_for_the_busy_threads():
    """Ctrl-C inside a lock's `with` comes out as `RuntimeError: release unlocked lock`;
    Prefect's flow engine records it as the flow's failure and leaves the task runner
    without an exception, which used to join the task threads (a search waited for its
    trials to finish). With the signal received, the runner does not wait."""
    import time

    from prefect import flow, task

    from mlflow_tflite.errors import SIGNAL_RECEIVED

    @task
    def busy() -> None:
        time.sleep(20)

    @flow(task_runner=make_task_runner())
    def interrupted() -> None:
        busy.submit()
        time.sleep(0.5)
        SIGNAL_RECEIVED.set()  # what the command's handler does before raising
        raise RuntimeError("release unlocked lock")

    started = time.monotonic()
    try:
        with pytest.raises(RuntimeError, match="release unlocked lock"):
            interrupted()
    finally:
        SIGNAL_RECEIVED.clear()
    assert time.monotonic() - started < 10
