"""Task-runner selection for the flow."""

from __future__ import annotations

import logging

import pytest
from prefect.task_runners import ThreadPoolTaskRunner

from flows.runner import ENV_VAR, make_task_runner


def test_threads_are_the_default(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert isinstance(make_task_runner(), ThreadPoolTaskRunner)


def test_an_unknown_runner_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(ENV_VAR, "carrier-pigeon")
    with pytest.raises(ValueError, match="unknown task runner 'carrier-pigeon'; expected one of"):
        make_task_runner()


def test_the_thread_timeout_notice_is_not_repeated():
    make_task_runner("threads")
    logger = logging.getLogger("prefect.task_runs")
    notice = "Timeout of 5 seconds configured, but the task is running in a worker thread."
    records = [logging.LogRecord("prefect.task_runs", logging.WARNING, __file__, 1, notice, None,
                                 None) for _ in range(3)]
    assert [logger.filter(r) for r in records][1:] == [False, False]
