"""What the flows' console leaves out: notices that are no news to a user."""

from __future__ import annotations

import logging

from prefect.logging.handlers import PrefectConsoleHandler

from mlflow_tflite_flows.server import quiet_console


def _record(message: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("prefect.task_runs", level, __file__, 1, message, None, None)


def test_a_measure_task_waiting_on_a_failed_build_adds_no_error_line() -> None:
    handler = PrefectConsoleHandler()
    not_ready = _record("Finished in state NotReady(\"Upstream task run '0199' did not reach "
                        "a 'COMPLETED' state.\")")
    failed = _record("Finished in state Failed('Task run encountered an exception')")

    with quiet_console():
        assert not handler.filter(not_ready)
        assert handler.filter(failed)
    assert handler.filter(not_ready)  # --verbose and outside a command: everything
