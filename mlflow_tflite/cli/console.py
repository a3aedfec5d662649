"""A console a person can read: what the libraries print that is no news to a user goes to
`.mlflow_tflite/logs/console.log` instead (everything stays on the console with `--verbose`).

Set before TensorFlow, Prefect or MLflow is imported, by the command itself (not the
Makefile), so `mlflow-tflite run` typed in any shell is as quiet as `make run`:
- the environment: telemetry off (Prefect's server otherwise logs `Failed to send
  telemetry` offline), no MLflow "View run" links or artifact download bars;
- Python warnings (Optuna's FutureWarnings, ...) to the log file;
- TensorFlow's C++ log lines (`I0000 ... oneDNN custom operations are on`, `E0000 ...
  failed call to cuInit`), which no environment variable silences (absl writes them before
  TF_CPP_MIN_LOG_LEVEL is read): file descriptor 2 goes through a pipe whose reader drops
  them into the log file. Child processes (measurements, Prefect's server) share the pipe.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, TextIO

LOG_FILE = Path(".mlflow_tflite") / "logs" / "console.log"

# Always: what the Makefile used to export for every command.
ENVIRONMENT = {
    "TF_USE_LEGACY_KERAS": "1",  # tfmot needs Keras 2
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DVC_NO_ANALYTICS": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
}
# Unless --verbose.
QUIET_ENVIRONMENT = {
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # "🏃 View run ... at: ..."
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # "Downloading artifacts: 100%|..."
}
# absl/TensorFlow C++ lines ("I0000 00:00:1796.. 123 port.cc:153] ...") and their preamble.
NOISE = re.compile(
    rb"^(?:[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./-]+:\d+\]"
    rb"|WARNING: All log messages before absl::InitializeLog"
    rb"|To enable the following instructions: "
    # LiteRT and the TFLite quantizer, from C++ on every interpreter and int8 conversion.
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate|fully_quantize: \d)"
)

_active: _StderrFilter | None = None


def set_environment(verbose: bool) -> None:
    """The variables every command needs (users' own values win)."""
    for name, value in {**ENVIRONMENT, **({} if verbose else QUIET_ENVIRONMENT)}.items():
        os.environ.setdefault(name, value)


class _StderrFilter:
    """File descriptor 2 through a pipe: noise to `log`, the rest to the real stderr."""

    def __init__(self, log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = log.open("ab")
        sys.stderr.flush()
        self._stderr = os.dup(2)
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self._thread = threading.Thread(target=self._pump, args=(read,), daemon=True,
                                        name="mlflow-tflite-stderr")
        self._thread.start()

    def _pump(self, read: int) -> None:
        with os.fdopen(read, "rb") as source:
            for line in source:
                if NOISE.match(line):
                    self._log.write(line)
                    self._log.flush()
                else:
                    os.write(self._stderr, line)

    def close(self) -> None:
        """Give fd 2 back and forward what is still in the pipe."""
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(self._stderr, 2)  # closes this process's write end of the pipe
        # Child processes may hold the pipe open (the pump keeps forwarding their lines to
        # the saved descriptor, left open for it): forward what is there, do not wait.
        self._thread.join(timeout=0.5)


def _warning_to_log(log: TextIO) -> Any:
    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        log.write(warnings.formatwarning(message, category, filename, lineno, line))
        log.flush()

    return show


def quiet(log: Path = LOG_FILE) -> None:
    """From now on, keep library noise off the console (see the module docstring)."""
    global _active
    if _active is not None:
        return
    _active = _StderrFilter(log)
    warnings.showwarning = _warning_to_log(log.open("a", encoding="utf-8"))


def restore() -> None:
    """Stop filtering (before the process ends: what is in the pipe reaches the console)."""
    global _active
    if _active is not None:
        active, _active = _active, None
        active.close()
