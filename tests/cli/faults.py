"""Run a real `mlflow-tflite` command in its own process group and see what it leaves.

Shared by the fault tests and bench/bench_faults.py: every process the command starts
inherits a unique marker in its environment, so what is left behind is found by the
marker, not by a name other sessions' processes share.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import venv_env

MARK = "MLFLOW_TFLITE_FAULT_MARK"
ENTRY = "import sys; from mlflow_tflite.cli import main; sys.exit(main())"


def store_client(cwd: Path):
    """An MlflowClient on the SQLite store a command wrote in `cwd`, registry included:
    without `registry_uri`, MLflow would read the process-wide registry URI, which an
    earlier in-process test may have left on its own store."""
    import mlflow

    uri = f"sqlite:///{cwd / 'mlflow.db'}"
    return mlflow.MlflowClient(uri, registry_uri=uri)


@dataclass
class Outcome:
    status: int
    seconds: float
    lines: list[str] = field(default_factory=list)
    sent_at: float | None = None

    @property
    def last_line(self) -> str:
        return self.lines[-1] if self.lines else ""


def marked_processes(mark: str) -> list[int]:
    """Pids of live processes whose environment carries `mark`."""
    found = []
    needle = f"{MARK}={mark}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_gone(mark: str, timeout: float = 15.0) -> list[int]:
    """Wait until no marked process is left; returns those still there at the timeout."""
    deadline = time.monotonic() + timeout
    while (left := marked_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def foreground_signals() -> None:
    """SIGINT as a terminal's foreground job has it: a shell starts background jobs (a CI
    runner's, `nohup ... &`) with SIGINT ignored, Python keeps an ignored SIGINT ignored,
    and the Ctrl-C tests would then test the runner, not the command."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Command:
    """`mlflow-tflite ARGS` in `cwd`, in a new session (its own process group)."""

    def __init__(self, args: list[str], cwd: Path, **env: str) -> None:
        self.mark = uuid.uuid4().hex
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-c", ENTRY, *args], cwd=cwd, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
            env=venv_env(**{MARK: self.mark, "PYTHONUNBUFFERED": "1", **env}),
            preexec_fn=foreground_signals,
        )
        self.lines: list[str] = []

    def wait_for(self, text: str, timeout: float = 240.0) -> str:
        """Read output until a line contains `text`; returns that line."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if text in line:
                return line
            if time.monotonic() > deadline:
                break
        raise AssertionError(f"no line with {text!r}; output:\n" + "\n".join(self.lines[-30:]))

    def signal(self, signum: int, group: bool = True) -> float:
        """Send `signum` to the process group (a terminal's Ctrl-C) or the main pid only."""
        if group:
            os.killpg(self.process.pid, signum)
        else:
            os.kill(self.process.pid, signum)
        return time.monotonic()

    def finish(self, timeout: float = 600.0, since: float | None = None) -> Outcome:
        out, _ = self.process.communicate(timeout=timeout)
        self.lines.extend(line for line in out.splitlines())
        start = since or self.started
        return Outcome(self.process.returncode, time.monotonic() - start,
                       [line for line in self.lines if line.strip()], since)

    def kill(self) -> None:
        if self.process.poll() is None:
            with_group = os.getpgid(self.process.pid) == self.process.pid
            (os.killpg if with_group else os.kill)(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for pid in marked_processes(self.mark):
            os.kill(pid, signal.SIGKILL)


def run_command(args: list[str], cwd: Path, timeout: float = 600.0, **env: str) -> Outcome:
    command = Command(args, cwd, **env)
    try:
        return command.finish(timeout)
    finally:
        command.kill()
