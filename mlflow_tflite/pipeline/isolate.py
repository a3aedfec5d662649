"""Run a risky step (train the baseline, build, measure) in a child process, so that a
native crash (SIGSEGV, SIGABRT, SIGBUS, an OOM kill) fails that step, not the run.

TensorFlow, its converters and LiteRT are C++: a crash there kills the process that runs
them. Each process that runs steps (the flow's, or a process or Dask worker) keeps one
child, started with `subprocess` (a fresh interpreter: TensorFlow is already loaded in
the parent, and a forked TensorFlow process is not safe) and reused for every step, so
TensorFlow is imported once per child. The step's function and arguments travel pickled
over a socket; its prints and fine-tune epochs come back as they happen (the search's
pruner judges every epoch); a child that dies is replaced for the next step.

`MLFLOW_TFLITE_ISOLATE=0` runs the steps in the calling process instead. Test hook
(documented in docs/keras3.md): `MLFLOW_TFLITE_TEST_CRASH=<label>[:SIGNAL],...`
makes the child kill itself with SIGNAL (default SIGSEGV) when it starts the step of that
label (`prepare`, `build-<variant>`, `measure-<variant>`, `baseline`,
`trial-<n>-build`).
"""

from __future__ import annotations

import atexit
import io
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from mlflow_tflite.errors import SIGNAL_RECEIVED, first_line, raise_if_signalled
from mlflow_tflite.pipeline.handles import STEP_ATTRIBUTE

CRASH_ENV = "MLFLOW_TFLITE_TEST_CRASH"
# `0` runs the steps in the calling process, as before (a debugger sees them; a native
# crash then ends the command).
ISOLATE_ENV = "MLFLOW_TFLITE_ISOLATE"
_POLL_S = 0.2
# TensorFlow 2.21's oneDNN kernels crash training some convolutions on x86 (a 1x1 stride-2
# Conv2D on 60x60 inputs): SIGSEGV when alone, SIGABRT inside our step process, where the
# corrupted heap is found by glibc first. LiteRT's measurements run no oneDNN.
_ONEDNN_HINT = ("a {signal} in TensorFlow on this CPU is often oneDNN: set "
                "TF_ENABLE_ONEDNN_OPTS=0 and run again")
_ONEDNN_SIGNALS = ("SIGSEGV", "SIGABRT")
_NO_TENSORFLOW_STEPS = ("measure",)
# A child keeps the memory its largest step took (TensorFlow's allocator and the heap do
# not give it back), and a run's steps go on in children at once: on MobileNetV2 at
# 224x224 two idle children held 4.4 GB after their fine-tunes. A child holding more than
# this after a step is ended and the next step starts a fresh one (a TensorFlow import, a
# few seconds, against a step of minutes); a small model's children stay far below it.
RECYCLE_RSS_BYTES = 2 * 2**30


class StepTimedOut(RuntimeError):
    """A step ran past its limit and its process was ended (one line: step and limit).

    The limit counts from the moment the step starts in its process, never the time it
    waited for its turn: on a real-size model eleven variants queue behind builds of
    several minutes each, and a limit that counted the queue failed the last of them.
    """


class StepCrashed(RuntimeError):
    """The process running a step died of a signal (one line naming the step and signal).

    Its `mlflow_tflite_step` attribute (`pipeline.handles.STEP_ATTRIBUTE`) is the step:
    the label's first word (`build`, `measure`, `baseline`).
    """

    @classmethod
    def of(cls, label: str, returncode: int) -> StepCrashed:
        # The message is the only argument: Dask and Prefect re-create a pickled error
        # from its args (the step attribute travels in its __dict__).
        error = cls(crash_message(label, returncode))
        setattr(error, STEP_ATTRIBUTE, label.partition("-")[0])
        return error


def crash_message(label: str, returncode: int) -> str:
    """`build-qat-int8: the process running it died of SIGSEGV (...)`."""
    number = -returncode
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    if returncode >= 0:
        return f"{label}: the process running it exited with status {returncode}"
    hint = " (killed from outside: out of memory?)" if name == "SIGKILL" else ""
    if name in _ONEDNN_SIGNALS and label.partition("-")[0] not in _NO_TENSORFLOW_STEPS:
        hint = f"; {_ONEDNN_HINT.format(signal=name)}"
    return f"{label}: the process running it died of {name}{hint}"


class _Worker:
    def __init__(self) -> None:
        parent, child = socket.socketpair()
        # The parent's import path, as multiprocessing's spawn hands it on: a user's
        # `module:function` builder or evaluator found there is found in the child.
        path = os.pathsep.join(entry for entry in sys.path if entry)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow_tflite.pipeline.isolate", str(child.fileno())],
            pass_fds=(child.fileno(),), env=env, stdin=subprocess.DEVNULL,
        )
        child.close()
        self.conn = Connection(parent.detach())

    def alive(self) -> bool:
        return self.process.poll() is None

    def resident_bytes(self) -> int:
        """The child's resident memory now (0 when it cannot be read)."""
        import psutil

        try:
            return psutil.Process(self.process.pid).memory_info().rss
        except psutil.Error:
            return 0

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()
        self.conn.close()


_IDLE: list[_Worker] = []
_ALL: list[_Worker] = []
_LOCK = threading.Lock()


def _take() -> _Worker:
    with _LOCK:
        while _IDLE:
            worker = _IDLE.pop()
            if worker.alive():
                return worker
        worker = _Worker()
        _ALL.append(worker)
        return worker


def _give_back(worker: _Worker) -> None:
    with _LOCK:
        _IDLE.append(worker)


def _discard(worker: _Worker) -> None:
    worker.stop()
    with _LOCK:
        if worker in _ALL:
            _ALL.remove(worker)


def stop_all() -> None:
    """End every child of this process (at exit, or when a run is interrupted)."""
    with _LOCK:
        workers, _ALL[:], _IDLE[:] = list(_ALL), [], []
    for worker in workers:
        worker.stop()


atexit.register(stop_all)


def call(label: str, function: Callable[..., Any], *args: Any,
         on_epoch: Callable[..., None] | None = None, limit_s: float | None = None,
         keep: bool = True, **kwargs: Any) -> Any:
    """`function(*args, **kwargs)` in this process's child; returns what it returns.

    `on_epoch` (`compress.EpochHook`) is called here for every fine-tune epoch there; what
    it raises ends the child's step (the child is replaced) and is raised here. `limit_s`
    bounds the step's own time (the child is then ended). `keep=False` ends the child
    after the step: no later step of this process would use it.

    Raises:
        StepCrashed: the child died (the step's label and the signal named).
        StepTimedOut: the step ran past `limit_s`.
        Exception: whatever the function raised.
    """
    if os.environ.get(ISOLATE_ENV) == "0":
        epochs = {"on_epoch": on_epoch} if on_epoch is not None else {}
        return function(*args, **kwargs, **epochs)
    worker = _take()
    try:
        worker.conn.send((label, function, args, kwargs, on_epoch is not None))
    except (OSError, pickle.PicklingError):
        _discard(worker)
        raise
    try:
        result = _wait(label, worker, on_epoch, limit_s)
    except BaseException:
        _discard(worker)
        raise
    if not keep or worker.resident_bytes() > RECYCLE_RSS_BYTES:
        _discard(worker)
    else:
        _give_back(worker)
    return result


def _wait(label: str, worker: _Worker, on_epoch: Callable[..., None] | None,
          limit_s: float | None = None) -> Any:
    deadline = None if limit_s is None else time.monotonic() + limit_s
    while True:
        raise_if_signalled()
        if SIGNAL_RECEIVED.is_set():
            # A task thread: the command is ending; the caller kills the child.
            raise KeyboardInterrupt("signal received")
        try:
            ready = worker.conn.poll(_POLL_S)
        except (OSError, EOFError):
            ready = False
        if not ready:
            if not worker.alive():
                raise StepCrashed.of(label, worker.process.returncode)
            if deadline is not None and time.monotonic() > deadline:
                raise StepTimedOut(f"{label}: still running after {limit_s:.0f} s, the "
                                   "step's limit; its process was ended")
            continue
        try:
            kind, *payload = worker.conn.recv()
        except (OSError, EOFError):
            worker.process.wait()
            raise StepCrashed.of(label, worker.process.returncode) from None
        if kind == "print":
            print(payload[0])
        elif kind == "epoch" and on_epoch is not None:
            on_epoch(*payload)
        elif kind == "ok":
            return payload[0]
        elif kind == "error":
            raise payload[0]


class _Forward(io.TextIOBase):
    """The child's stdout: each line goes to the parent, which prints it in the step's
    thread (so Prefect's log_prints records it under the task)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._buffer = ""

    def write(self, text: str) -> int:
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            self._conn.send(("print", line))
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            self._conn.send(("print", self._buffer))
            self._buffer = ""


def _crash_if_asked(label: str) -> None:
    for entry in filter(None, os.environ.get(CRASH_ENV, "").split(",")):
        name, _, signame = entry.partition(":")
        if name == label:
            os.kill(os.getpid(), signal.Signals[signame or "SIGSEGV"])


def _watch_parent(parent: int) -> None:
    # The parent may end with os._exit (an interrupted command): no child outlives it.
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _serve(fd: int) -> None:
    # Ctrl-C reaches the whole process group: the parent decides, and ends this child.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    conn = Connection(fd)
    sys.stdout = _Forward(conn)
    while True:
        try:
            label, function, args, kwargs, epochs = conn.recv()
        except EOFError:
            return
        if epochs:
            kwargs["on_epoch"] = lambda *event: conn.send(("epoch", *event))
        try:
            _crash_if_asked(label)
            result = function(*args, **kwargs)
            sys.stdout.flush()
            conn.send(("ok", result))
        except BaseException as error:  # noqa: BLE001 - sent to the parent, raised there
            sys.stdout.flush()
            error.add_note("".join(traceback.format_exception(error)).rstrip())
            try:
                conn.send(("error", error))
            except Exception:  # noqa: BLE001 - an error that does not pickle: its line
                conn.send(("error", RuntimeError(first_line(error, with_type=True))))


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
