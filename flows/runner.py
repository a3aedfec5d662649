"""Task-runner selection for the `optimize` flow.

Threads are the default: the TensorFlow steps serialise on `COMPUTE_LOCK` anyway and
MLflow logging is I/O bound, so threads give the parallelism that pays on a laptop.
`MLFLOW_TFLITE_TASK_RUNNER` chooses another runner by name; new runners register here.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

# TensorFlow training and conversion share Keras' global state (graph, name scopes,
# random seeds) and tfmot's wrappers mutate layers; two at once in one process can
# corrupt each other. Latency measurement must not share the CPU with either, or the
# numbers measure the contention. So compress, convert and measure hold this lock; MLflow
# logging runs in parallel beside them. Runners with one process per task (issue 6) get
# one lock per process, where the isolation is the process itself.
COMPUTE_LOCK = threading.Lock()

ENV_VAR = "MLFLOW_TFLITE_TASK_RUNNER"


class _ThreadTimeoutNoticeOnce(logging.Filter):
    """Prefect warns on every threaded task run that its timeout cannot interrupt a
    blocking call (TensorFlow's C++ kernels are one); the notice is true, so keep the first
    and drop the repeats that would otherwise bury the progress lines."""

    def __init__(self) -> None:
        super().__init__()
        self._seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if "running in a worker thread" not in str(record.msg):
            return True
        seen, self._seen = self._seen, True
        return not seen


def _threads() -> Any:
    from prefect.task_runners import ThreadPoolTaskRunner

    task_logger = logging.getLogger("prefect.task_runs")
    if not any(isinstance(f, _ThreadTimeoutNoticeOnce) for f in task_logger.filters):
        task_logger.addFilter(_ThreadTimeoutNoticeOnce())
    # Enough threads that logging a finished variant never waits behind the builds.
    return ThreadPoolTaskRunner(max_workers=int(os.environ.get("MLFLOW_TFLITE_THREADS", "8")))


RUNNERS: dict[str, Callable[[], Any]] = {"threads": _threads}


def make_task_runner(name: str | None = None) -> Any:
    """The task runner called `name` (default: $MLFLOW_TFLITE_TASK_RUNNER or `threads`)."""
    name = name or os.environ.get(ENV_VAR) or "threads"
    if name not in RUNNERS:
        raise ValueError(f"unknown task runner {name!r}; expected one of {', '.join(RUNNERS)}")
    return RUNNERS[name]()
