"""The `dask` runner's task runner: prefect-dask's, without waiting for busy workers on
Ctrl-C. A module of its own so that prefect-dask (and distributed) are imported only when
the `dask` runner is chosen, and at module level so that Prefect pickles the runner by
reference for the workers (a class made inside a function is pickled by value, with the
module's locks)."""

from __future__ import annotations

from typing import Any

from prefect_dask import DaskTaskRunner

from mlflow_tflite_flows.runner import STOP, ClearsStopOnEnter, interrupted


class InterruptibleDaskTaskRunner(ClearsStopOnEnter, DaskTaskRunner):
    """On Ctrl-C, forgets its client and LocalCluster instead of closing them: closing asks
    each nanny to stop its worker and gives a worker busy in TensorFlow 4 seconds before
    killing it. The interrupted command ends its child processes itself, nannies and
    workers included (`cli.guard.exit_now`)."""

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        if not interrupted(exc_type):
            super().__exit__(exc_type, exc_value, traceback)
            return
        STOP.set()
        self._exit_stack.pop_all()
        self._started = False
