"""Prefect's temporary API server and console for a command's flow (see
`mlflow_tflite.cli.guard`, which wraps them): the server runs in a session of its own, so
Ctrl-C in a terminal reaches the command and not the server, and it dies with the command
(Linux PR_SET_PDEATHSIG), so even kill -9 leaves no server behind.
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
from typing import Any

PR_SET_PDEATHSIG = 1
# Prefect notices that are true but no news to a user: kept in Prefect's logs (the API,
# its UI) and off the console. Prefect warns that a threaded task's timeout cannot
# interrupt a blocking call (TensorFlow's C++ kernels are one) once per run. A variant's
# measure task waiting on a build that failed ends NotReady ("Upstream task run ... did not
# reach a 'COMPLETED' state"): the build's own line and the variant's FAILED row say why.
CONSOLE_NOTICES = ("running in a worker thread", "Finished in state NotReady(")


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

        closed = False

        def start(self, timeout: int | None = None) -> None:
            # After an interrupt, a task thread still finishing must not start a new one.
            if self.closed:
                raise RuntimeError("Prefect's temporary server is closed: interrupted")
            super().start(timeout)

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
    interrupted = False
    try:
        server.start()
        yield server.api_url
    except BaseException:
        interrupted = True
        raise
    finally:
        # Interrupted: end within seconds. Prefect's logs may lose a line, and uvicorn's
        # graceful stop (up to 5 s, waiting on open connections) is skipped: the server
        # only holds this run's temporary state.
        _drain_prefect_workers(1.0 if interrupted else 5.0)
        if interrupted:
            # Left registered and closed: Prefect's clients in task threads still running
            # find it and fail, instead of starting another temporary server.
            server.closed = True
            if server.server_process is not None:
                server.server_process.kill()
        server.stop()
        if not interrupted and SubprocessASGIServer._instances.get(None) is server:
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
    original, original_filter = PrefectConsoleHandler.format, PrefectConsoleHandler.filter

    def format_short(self: logging.Handler, record: logging.LogRecord) -> str:
        return original(self, _without_traceback(record))

    def filter_notices(self: logging.Handler, record: logging.LogRecord) -> Any:
        return (not any(notice in str(record.msg) for notice in CONSOLE_NOTICES)
                and original_filter(self, record))

    PrefectConsoleHandler.format = format_short  # type: ignore[method-assign]
    PrefectConsoleHandler.filter = filter_notices  # type: ignore[method-assign]
    try:
        yield
    finally:
        PrefectConsoleHandler.format = original  # type: ignore[method-assign]
        PrefectConsoleHandler.filter = original_filter  # type: ignore[method-assign]
