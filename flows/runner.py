"""Task-runner selection for the `optimize` flow (the params.yaml `runner` section).

- `threads` (default): every task in the flow's process. The TensorFlow steps serialise on
  `COMPUTE_LOCK` anyway and MLflow logging is I/O bound, so threads give the parallelism
  that pays on a laptop.
- `processes`: Prefect's ProcessPoolTaskRunner, `workers` spawned local processes.
- `dask`: prefect-dask's DaskTaskRunner on a LocalCluster of `workers` single-threaded
  worker processes, or on the existing scheduler at `address`.

With a process runner each variant's build runs in one worker (the compressed Keras model
never leaves it) and workers log their child runs to the tracking URI they are handed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import threading
from typing import Any

from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

from mlflow_tflite.config.runner import RUNNER_TYPES, RunnerConfig
from mlflow_tflite.errors import SIGNAL_RECEIVED, raise_if_signalled

# Set when the flow is interrupted (see `ComputeLock`); cleared when a task runner starts.
STOP = threading.Event()
_POLL_S = 0.2


class Interrupted(RuntimeError):
    """A task that was to start after the flow was interrupted."""


def _raise_if_stopped() -> None:
    if STOP.is_set():
        raise Interrupted("interrupted (Ctrl-C or SIGTERM) before this step started")


def wait(future: Any) -> None:
    """`future.wait()`, a short timed wait at a time for a thread- or process-runner future.

    A SIGTERM sent to the process (not its group) may land on a task thread busy in
    TensorFlow; Python then runs its handler in the main thread only when that thread next
    runs bytecode, and an untimed wait on a build 30 s from done would hold the signal
    that long.
    """
    wrapped = getattr(future, "wrapped_future", None)
    if isinstance(wrapped, concurrent.futures.Future):
        # `exception(timeout)`, not `concurrent.futures.wait`: the process runner's
        # `_UnpicklingFuture` skips `Future.__init__` and has no condition to wait on.
        while not wrapped.done():
            raise_if_signalled()
            with contextlib.suppress(TimeoutError, concurrent.futures.CancelledError):
                wrapped.exception(timeout=_POLL_S)
    future.wait()


class ComputeLock:
    """`COMPUTE_LOCK`: a lock that an interrupted flow (`STOP` set) no longer hands out.

    On Ctrl-C every variant's build is already running in a task thread, most of them
    waiting here; Prefect's thread runner joins its threads when the flow ends, so with a
    plain lock each would still train and convert in turn before the command could exit.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> ComputeLock:
        while not self._lock.acquire(timeout=_POLL_S):
            raise_if_signalled()
            _raise_if_stopped()
        try:
            _raise_if_stopped()
        except Interrupted:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


# TensorFlow training and conversion share Keras' global state (graph, name scopes,
# random seeds) and tfmot's wrappers mutate layers; two at once in one process can
# corrupt each other. Latency measurement must not share the CPU with either, or the
# numbers measure the contention. So build and measure hold this lock; MLflow logging
# runs in parallel beside them. It serialises within one process only: under `processes`
# and `dask` the isolation is the process (one task at a time per worker), and workers on
# the same machine do share its cores.
COMPUTE_LOCK = ComputeLock()

THREADS = 8
# Set in every worker process before it imports TensorFlow or MLflow.
WORKER_ENV = {
    "TF_USE_LEGACY_KERAS": "1",  # tfmot needs Keras 2
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
}


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


def prefect_api_url() -> str:
    """The Prefect API this process reports to; in embedded mode, its temporary server,
    started now, so worker processes report to it instead of each starting their own."""
    from prefect.settings import PREFECT_API_URL

    if url := PREFECT_API_URL.value():
        return url
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the instance Prefect's own client would start
    server.start()
    return server.api_url


def worker_env(tracking_uri: str | None, prefect_api: str | None = None) -> dict[str, str]:
    """The environment worker processes get: ours, the caller's TF/Keras choices, the
    tracking URI (so anything in a worker that reads MLflow's default finds the server) and
    the Prefect API the flow reports to."""
    env = {**WORKER_ENV, **{k: os.environ[k] for k in WORKER_ENV if k in os.environ}}
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    if prefect_api:
        env["PREFECT_API_URL"] = prefect_api
    return env


def _set_env(env: dict[str, str]) -> None:
    os.environ.update(env)


def interrupted(exc_type: Any) -> bool:
    """Whether a task runner's `with` block ends because of Ctrl-C or SIGTERM:
    KeyboardInterrupt, or Prefect's TerminationSignal for a SIGTERM. A signal may also land
    inside a lock's `with` and come out as `RuntimeError: release unlocked lock`, which
    Prefect's flow engine records as the flow's failure: it then leaves the block without
    an exception, so the signal is asked too."""
    return SIGNAL_RECEIVED.is_set() or (exc_type is not None
                                        and not issubclass(exc_type, Exception))


class ClearsStopOnEnter:
    """A task runner mixin: entering it clears `STOP`, which an earlier interrupted flow in
    this process (a test's) may have left set."""

    def __enter__(self) -> Any:
        STOP.clear()
        return super().__enter__()  # type: ignore[misc]


class _StopsWithoutWaiting(ClearsStopOnEnter):
    """A Prefect task runner that, on Ctrl-C or SIGTERM, stops without joining its threads
    or waiting for its futures: the lock stops handing out turns, queued tasks are
    cancelled, and the command ends the process (and the worker processes it started)
    without waiting for what still runs. Otherwise Prefect's own `__exit__`."""

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        if not interrupted(exc_type):
            super().__exit__(exc_type, exc_value, traceback)  # type: ignore[misc]
            return
        STOP.set()
        for event in self._cancel_events.values():  # type: ignore[attr-defined]
            event.set()  # (cancel_all() would join the threads)
        for name in ("_executor", "_resolver_executor"):
            executor = getattr(self, name, None)
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)
                setattr(self, name, None)
        if isinstance(self, ProcessPoolTaskRunner):
            self._stop_message_forwarding()
        self._started = False


class InterruptibleThreadPoolTaskRunner(_StopsWithoutWaiting, ThreadPoolTaskRunner):
    """Prefect's thread runner that does not wait for its busy threads on Ctrl-C.

    Prefect's own `__exit__` and `cancel_all` shut its executor down with `wait=True`,
    joining the task threads: an interrupted flow would first run every build already
    started (TensorFlow in C++ cannot be interrupted, and queued builds were waiting on
    COMPUTE_LOCK).
    """


class InterruptibleProcessPoolTaskRunner(_StopsWithoutWaiting, ProcessPoolTaskRunner):
    """Prefect's process runner that does not wait for its futures on Ctrl-C.

    Its `__exit__` joins the threads that resolve a task's upstream futures before
    submitting it; a task whose upstream build was interrupted in its worker never gets a
    result, so the join, and the command, would wait forever. At module level: Prefect
    pickles the flow's runner for its workers, by reference only when importable.
    """


def _threads(config: RunnerConfig, env: dict[str, str]) -> Any:
    task_logger = logging.getLogger("prefect.task_runs")
    if not any(isinstance(f, _ThreadTimeoutNoticeOnce) for f in task_logger.filters):
        task_logger.addFilter(_ThreadTimeoutNoticeOnce())
    # Enough threads that logging a finished variant never waits behind the builds.
    return InterruptibleThreadPoolTaskRunner(max_workers=THREADS)


def _processes(config: RunnerConfig, env: dict[str, str]) -> Any:
    return InterruptibleProcessPoolTaskRunner(max_workers=config.workers,
                                              initializer=_set_env, initargs=(env,))


def _dask(config: RunnerConfig, env: dict[str, str]) -> Any:
    from mlflow_tflite_flows.dask_runner import InterruptibleDaskTaskRunner

    if config.address:
        # The cluster's workers were started by someone else: they need this project
        # installed and the same environment (docs/team.md).
        return InterruptibleDaskTaskRunner(address=config.address)
    return InterruptibleDaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": config.workers,
            # One task per worker process: TensorFlow steps must not share a process.
            "threads_per_worker": 1,
            "processes": True,
            "env": env,
            "dashboard_address": None,
        },
    )


# In RUNNER_TYPES order: threads, processes, dask.
RUNNERS = dict(zip(RUNNER_TYPES, (_threads, _processes, _dask), strict=True))


def make_task_runner(config: RunnerConfig | str | None = None,
                     tracking_uri: str | None = None) -> Any:
    """The Prefect task runner for `config` (a RunnerConfig or a type name; default threads).

    Args:
        config: the params.yaml `runner` section, or just its `type`.
        tracking_uri: set as MLFLOW_TRACKING_URI in worker processes.

    Raises:
        ValueError: an unknown runner type, naming the valid ones.
    """
    if config is None or isinstance(config, str):
        name = config or "threads"
        if name not in RUNNERS:
            raise ValueError(f"unknown task runner {name!r}; expected one of {', '.join(RUNNERS)}")
        config = RunnerConfig(type=name)
    local_workers = config.type != "threads" and config.address is None
    api = prefect_api_url() if local_workers else None
    return RUNNERS[config.type](config, worker_env(tracking_uri, api))
