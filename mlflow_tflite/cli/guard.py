"""What a long command (`run`, `search`) wraps around its flow so that a bad day ends
cleanly: one line, no traceback, nothing left RUNNING, no process left behind.

    with guard.tracked(params) as experiment_id:      # store checked, stale runs ended
        ...                                           # Ctrl-C/SIGTERM: own runs FAILED
        with guard.embedded_prefect_server(), guard.quiet_console(args.verbose):
            result = run_the_flow()

- `tracked` checks the tracking store in seconds before any work (one line naming the URI
  and what failed), ends this host's RUNNING flow runs whose process is gone (kill -9) as
  FAILED, turns SIGTERM into the KeyboardInterrupt of Ctrl-C, and on either ends the runs
  this process left RUNNING as FAILED (tag `mlflow_tflite.error: interrupted`).
- `embedded_prefect_server` starts Prefect's temporary API server itself, in its own
  session, so Ctrl-C in a terminal (SIGINT to the foreground process group) reaches the
  command but not the server, which keeps answering while the flow reports its end, and is
  then stopped here. The server also gets SIGTERM when the command dies (Linux
  PR_SET_PDEATHSIG), so even kill -9 leaves no server behind.
- `quiet_console` keeps Prefect's tracebacks in its logs (the Prefect UI, the API) and
  off the terminal, unless `--verbose`.
- `exit_now` ends an interrupted console command at once: TensorFlow may be busy in a
  task thread that Python would otherwise wait for at exit.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mlflow_tflite.cli import CommandError

if TYPE_CHECKING:
    from mlflow_tflite.config import Params

PR_SET_PDEATHSIG = 1
INTERRUPTED = "interrupted (Ctrl-C or SIGTERM) while the flow ran"


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def tracked(params: Params) -> Iterator[str]:
    """Check the tracking store, end stale runs, and end this process's runs on Ctrl-C.

    Yields:
        The experiment id (created when missing).

    Raises:
        CommandError: the store is unreachable or unwritable, or the experiment deleted.
    """
    from mlflow_tflite import tracking

    uri = tracking.resolve_tracking_uri(params.mlflow.tracking_uri)
    try:
        experiment_id = tracking.store.check_store(uri, params.mlflow.experiment)
    except tracking.store.StoreError as error:
        raise CommandError(str(error)) from None
    tracking.configure_tracking(uri)
    for run_id in tracking.store.end_stale_runs(experiment_id):
        print(f"MLflow run {run_id} was left RUNNING by a process that is gone; "
              "ended it as FAILED", file=sys.stderr)
    previous = signal.getsignal(signal.SIGTERM)
    main_thread = _in_main_thread()
    if main_thread:
        signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield experiment_id
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):  # best effort: the next run ends what is left
            tracking.store.end_own_runs(experiment_id, INTERRUPTED)
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _die_with_parent(parent: int) -> Any:
    """A preexec_fn: the child gets SIGTERM when `parent` dies (Linux), and exits at once
    if the parent died between fork and here."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: the atexit stop still applies
        return None

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def _server_class() -> type:
    import prefect
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import get_current_settings

    class SessionServer(SubprocessASGIServer):
        """Prefect's temporary API server (Prefect 3.8's command line and environment) in
        a session of its own that dies with this process."""

        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            server_env = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                          "PREFECT__SERVER_FINAL": "1"}
            return subprocess.Popen(
                args=[sys.executable, "-m", "uvicorn", "--app-dir",
                      str(prefect.__module_path__.parent), "--factory",
                      "prefect.server.api.server:create_app", "--host", "127.0.0.1",
                      "--port", str(self.port), "--log-level", "error", "--lifespan", "on"],
                env={**os.environ, **server_env,
                     **get_current_settings().to_environment_variables(exclude_unset=True)},
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
            )

    return SessionServer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def embedded_prefect_server() -> Iterator[str | None]:
    """Prefect's temporary API server for the block, or None when Prefect has an API
    already (PREFECT_API_URL, a running temporary server, a test harness).

    Yields:
        The API URL of the server started here, or None.
    """
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    current = SubprocessASGIServer._instances.get(None)
    if (PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value()
            or (current is not None and current.running)):
        yield None
        return
    server = _server_class()(_free_port())
    # Where Prefect's client, events and log workers look for "the" temporary server.
    SubprocessASGIServer._instances[None] = server
    try:
        server.start()
        yield server.api_url
    finally:
        _drain_prefect_workers()
        server.stop()
        if SubprocessASGIServer._instances.get(None) is server:
            del SubprocessASGIServer._instances[None]


def _drain_prefect_workers(timeout: float = 5.0) -> None:
    """Send the logs and events Prefect still queues to the server before it stops (else
    they fail at exit with `--- Error logging to API ---`)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):  # nothing queued, or no worker started
            worker.drain_all(timeout=timeout)


def _without_traceback(record: logging.LogRecord) -> logging.LogRecord:
    """A copy of `record` without its traceback; the record itself, which Prefect's API
    handler also sends, keeps it."""
    short = copy.copy(record)
    short.exc_info = short.exc_text = short.stack_info = None
    head = short.getMessage().split("\nTraceback (most recent call last)")[0].rstrip()
    short.msg, short.args = head, None
    return short


@contextlib.contextmanager
def quiet_console(verbose: bool = False) -> Iterator[None]:
    """Prefect's console lines without tracebacks for the block (all of them if verbose).

    Set on the handler class: Prefect configures its logging again when a flow starts,
    with new console handlers.
    """
    from prefect.logging.handlers import PrefectConsoleHandler

    if verbose:
        yield
        return
    original = PrefectConsoleHandler.format

    def format_short(self: logging.Handler, record: logging.LogRecord) -> str:
        return original(self, _without_traceback(record))

    PrefectConsoleHandler.format = format_short  # type: ignore[method-assign]
    try:
        yield
    finally:
        PrefectConsoleHandler.format = original  # type: ignore[method-assign]


def exit_now(status: int) -> None:
    """Flush and end the process now, without waiting for busy task threads."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)
