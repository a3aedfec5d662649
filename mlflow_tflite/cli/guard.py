"""What a long command (`run`, `search`) wraps around its flow so that a bad day ends
cleanly: one line, no traceback, nothing left RUNNING, no process left behind.

    with guard.tracked(params) as experiment_id:      # store checked, stale runs ended
        ...                                           # Ctrl-C/SIGTERM: own runs FAILED
        with server.embedded_prefect_server(), server.quiet_console(args.verbose):
            result = run_the_flow()           # mlflow_tflite_flows.server

- `tracked` checks the tracking store in seconds before any work (one line naming the URI
  and what failed), ends this host's RUNNING flow runs whose process is gone (kill -9) as
  FAILED, turns SIGTERM into the KeyboardInterrupt of Ctrl-C, and on either ends the runs
  this process left RUNNING as FAILED (tag `mlflow_tflite.error: interrupted`). A signal
  whose KeyboardInterrupt Python swallows (it landed in a weakref callback) is raised
  again where the main thread next waits or trains (`errors.raise_if_signalled`). A signal
  that lands while the main thread is inside the store's database layer (SQLAlchemy, sqlite3)
  is delivered again once that call has returned, so the write finishes or rolls back whole.
- `mlflow_tflite_flows.server` (Prefect lives in the flows, not here): its
  `embedded_prefect_server` runs Prefect's temporary API server in a session of its own,
  so Ctrl-C in a terminal reaches the command but not the server, which dies with the
  command even on kill -9; its `quiet_console` keeps Prefect's tracebacks in its logs and
  off the terminal, unless `--verbose`.
- `exit_now` ends an interrupted console command at once: TensorFlow may be busy in a
  task thread that Python would otherwise wait for at exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mlflow_tflite.cli import CommandError
from mlflow_tflite.errors import INTERRUPTED, SIGNAL_RECEIVED, is_interrupt

if TYPE_CHECKING:
    from mlflow_tflite.config import Params

# Code a KeyboardInterrupt must not land in: raised inside SQLAlchemy's commit or its pool's
# reset, it prints "Exception during reset or similar" with a traceback and can leave a
# SQLite connection holding the write lock, so ending the runs afterwards waits out the
# store's 20-second busy timeout. Local database calls return in milliseconds.
_DATABASE_CODE = (f"{os.sep}sqlalchemy{os.sep}", f"{os.sep}sqlite3{os.sep}",
                  f"{os.sep}alembic{os.sep}")
REDELIVER_SECONDS = 0.02


def _raise_interrupt(signum: int, frame: Any) -> None:
    SIGNAL_RECEIVED.set()
    if _in_database_call(frame):
        _redeliver(signum)
        return
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _in_database_call(frame: Any) -> bool:
    while frame is not None:
        if any(part in frame.f_code.co_filename for part in _DATABASE_CODE):
            return True
        frame = frame.f_back
    return False


def _redeliver(signum: int) -> None:
    """The same signal to the main thread shortly (a real one, so that a sleep or a wait
    it has gone on to is interrupted); its handler defers again while the database call
    lasts. Nothing once the command has restored the handler."""
    import threading

    main = threading.main_thread().ident

    def again() -> None:
        if signal.getsignal(signum) is _raise_interrupt and main is not None:
            signal.pthread_kill(main, signum)

    timer = threading.Timer(REDELIVER_SECONDS, again)
    timer.daemon = True
    timer.start()


def _unraisable(previous: Any) -> Any:
    """A `sys.unraisablehook` that drops the KeyboardInterrupt of a signal that landed in a
    weakref callback or `__del__` (Python would print its traceback and go on): the next
    wait or training step raises it again (`errors.raise_if_signalled`)."""

    def hook(unraisable: Any) -> None:
        if not (isinstance(unraisable.exc_value, KeyboardInterrupt)
                and SIGNAL_RECEIVED.is_set()):
            previous(unraisable)

    return hook


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
    main_thread = _in_main_thread()
    # Ctrl-C keeps Python's meaning (a KeyboardInterrupt) but is also recorded, unless the
    # shell started the command with it ignored (a background job).
    signums = [signal.SIGTERM] + ([signal.SIGINT] if signal.getsignal(signal.SIGINT)
                                  is signal.default_int_handler else [])
    previous = {signum: signal.getsignal(signum) for signum in signums}
    previous_hook = sys.unraisablehook
    SIGNAL_RECEIVED.clear()
    if main_thread:
        sys.unraisablehook = _unraisable(previous_hook)
        for signum in signums:
            signal.signal(signum, _raise_interrupt)
    try:
        yield experiment_id
    except BaseException as error:
        if is_interrupt(error):
            with contextlib.suppress(Exception):  # best effort: the next run ends the rest
                tracking.store.end_own_runs(experiment_id, INTERRUPTED)
        raise
    finally:
        if main_thread:
            sys.unraisablehook = previous_hook
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def exit_now(status: int, last_line: str) -> None:
    """End the process now with `last_line` as the last thing on stderr, without waiting
    for busy task threads, and the processes it started (a cold-start measurement, pool
    workers: a SIGTERM to this process alone does not reach them)."""
    import logging

    from mlflow_tflite.cli import console

    # Prefect's log workers fail once its server is closed ("--- Logging error ---").
    logging.raiseExceptions = False
    logging.disable(logging.CRITICAL)
    _terminate_children()
    console.restore()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    stderr = os.dup(2)
    # Threads still running write nothing after the last line.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.write(stderr, f"{last_line}\n".encode())
    os._exit(status)


def _terminate_children(timeout: float = 1.0) -> None:
    import psutil

    with contextlib.suppress(psutil.Error):
        children = psutil.Process().children(recursive=True)
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.terminate()
        _, alive = psutil.wait_procs(children, timeout=timeout)
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.kill()
