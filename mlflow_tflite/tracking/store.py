"""The tracking store on a bad day: checked before any work, stale runs ended, no retry
of what cannot succeed.

- `check_store` answers in seconds whether the store at a URI is reachable and writable
  and the experiment usable, so a typo'd server or a read-only path fails before data
  preparation and training rather than after minutes of retries.
- Every flow's parent run carries the host and pid of the process that runs it
  (`owner_tags`); `end_stale_runs` ends RUNNING flow runs whose process is gone (kill -9,
  a power cut) as FAILED, with a tag saying why.
- `is_permanent` tells retries (a server that blipped) from errors that a retry cannot
  fix (a deleted experiment, permission denied, a read-only database).
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlflow_tflite.tracking.layout import ERROR_TAG, FLOW_ROLE, PARENT_TAG, ROLE_TAG

HOST_TAG = "mlflow_tflite.host"
PID_TAG = "mlflow_tflite.pid"
# Clock ticks after boot at which the pid started: a reused pid is not the same process.
PID_START_TAG = "mlflow_tflite.pid_start"
CHECK_TIMEOUT_S = 5.0
# MLflow error codes no retry can fix.
PERMANENT_CODES = frozenset({
    "RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "PERMISSION_DENIED",
    "UNAUTHENTICATED", "INVALID_STATE", "BAD_REQUEST", "RESOURCE_ALREADY_EXISTS",
})
_PERMANENT_TEXT = ("readonly database", "read-only", "permission denied",
                   "unable to open database", "is deleted", "deleted experiment")


class StoreError(Exception):
    """The tracking store cannot be used; one line naming the URI and what failed."""


def _process_start(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Field 22 (starttime); the command name (field 2) may hold spaces, so split after it.
    return stat.rpartition(")")[2].split()[19]


def owner_tags() -> dict[str, str]:
    """Tags naming this process, for a parent run it starts."""
    pid = os.getpid()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(pid), PID_START_TAG: _process_start(pid)}


def process_alive(pid: int, start: str = "") -> bool:
    """Whether process `pid` (started at `start` ticks, if given) still runs here."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state not in ("Z", "X") and (not start or _process_start(pid) == start)


def is_permanent(error: BaseException) -> bool:
    """True for tracking errors a retry cannot fix."""
    from mlflow.exceptions import MlflowException

    if isinstance(error, PermissionError | StoreError):
        return True
    if isinstance(error, MlflowException) and error.error_code in PERMANENT_CODES:
        return True
    text = str(error).lower()
    return any(marker in text for marker in _PERMANENT_TEXT)


@contextlib.contextmanager
def _no_http_retries() -> Iterator[None]:
    """MLflow's REST client retries 7 times with backoff (minutes); a check needs one try."""
    saved = {k: os.environ.get(k) for k in
             ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")}
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(int(CHECK_TIMEOUT_S))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _first(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _check_reachable(uri: str) -> None:
    parsed = urlparse(uri)
    if not parsed.hostname:
        return
    default = {"http": 80, "https": 443, "postgresql": 5432, "mysql": 3306}
    port = parsed.port or default.get(parsed.scheme.split("+")[0])
    if port is None:
        return
    try:
        socket.create_connection((parsed.hostname, port), timeout=CHECK_TIMEOUT_S).close()
    except OSError as error:
        reason = error.strerror or _first(error)
        raise StoreError(f"{uri}: cannot connect to {parsed.hostname}:{port} ({reason})") from None
    if parsed.scheme in ("http", "https"):
        try:
            urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=CHECK_TIMEOUT_S).close()
        except urllib.error.HTTPError as error:
            if error.code in (401, 403):
                raise StoreError(f"{uri}: the server refused access (HTTP {error.code})") from None
        except (OSError, ValueError) as error:
            raise StoreError(f"{uri}: no MLflow server answers ({_first(error)})") from None


def _local_path(uri: str) -> Path | None:
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///").split("?")[0])
    if uri.startswith("file:"):
        return Path(urlparse(uri).path)
    if "://" not in uri:
        return Path(uri)
    return None


def _check_writable(uri: str, path: Path) -> None:
    """The file (or, not yet there, its directory) can be written: tried, not assumed
    (root passes `os.access` on /proc, where nothing can be created)."""
    directory = path.parent
    if uri.startswith("file:") or "://" not in uri:
        # A file store creates its folder: the nearest existing one must take files.
        directory = next(p for p in (path, *path.parents) if p.exists())
    if path.exists() and path.is_file():
        try:
            with path.open("ab"):
                pass
        except OSError as error:
            raise StoreError(f"{uri}: {path} is not writable ({error.strerror})") from None
        return
    if not directory.is_dir():
        raise StoreError(f"{uri}: directory {directory} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".mlflow-tflite-check-"):
            pass
    except OSError as error:
        raise StoreError(f"{uri}: cannot create files in {directory} "
                         f"({error.strerror or _first(error)})") from None


def check_store(uri: str, experiment: str) -> str:
    """Check the tracking store at `uri` and experiment `experiment` before any work.

    Creates the experiment when missing (the flow would as its first write). Takes
    seconds: connections time out after CHECK_TIMEOUT_S and nothing is retried.

    Returns:
        The experiment id.

    Raises:
        StoreError: one line naming the URI and what failed (unreachable, not writable,
            refused, or the experiment deleted, with the fix).
    """
    from mlflow import MlflowClient

    path = _local_path(uri)
    if path is not None:
        _check_writable(uri, path)
    _check_reachable(uri)
    with _no_http_retries():
        try:
            client = MlflowClient(uri, uri)
            found = client.get_experiment_by_name(experiment)
            if found is None:
                try:
                    return client.create_experiment(experiment)
                except Exception:
                    # Created meanwhile by a team-mate's process: use theirs.
                    found = client.get_experiment_by_name(experiment)
                    if found is None:
                        raise
        except Exception as error:  # noqa: BLE001 - whatever the store says, in one line
            raise StoreError(f"{uri}: {_first(error)}") from None
    if found.lifecycle_stage == "deleted":
        raise StoreError(
            f"{uri}: experiment {experiment!r} is deleted; restore it (mlflow experiments "
            f"restore --experiment-id {found.experiment_id}) or set mlflow.experiment to "
            "another name")
    return found.experiment_id


def _running_runs(client: Any, experiment_id: str, condition: str) -> list[Any]:
    return client.search_runs(
        [experiment_id],
        filter_string=f"attributes.status = 'RUNNING'{condition}",
        max_results=1000,
    )


def fail_run(run_id: str, reason: str) -> None:
    """End flow run `run_id` and its RUNNING children FAILED, each tagged with `reason`."""
    from mlflow import MlflowClient

    client = MlflowClient()
    _fail(client, client.get_run(run_id), reason)


def _fail(client: Any, run: Any, reason: str) -> None:
    run_id = run.info.run_id
    children = client.search_runs(
        [run.info.experiment_id],
        filter_string=f"tags.`{PARENT_TAG}` = '{run_id}' and attributes.status = 'RUNNING'",
        max_results=1000,
    )
    for target in [*children, run]:
        client.set_tag(target.info.run_id, ERROR_TAG, reason[:500])
        client.set_terminated(target.info.run_id, "FAILED")


def end_stale_runs(experiment_id: str) -> list[str]:
    """End this host's RUNNING flow runs whose process is gone as FAILED.

    Returns:
        The ids of the runs ended.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    host = socket.gethostname()
    ended = []
    condition = f" and tags.`{ROLE_TAG}` = '{FLOW_ROLE}' and tags.`{HOST_TAG}` = '{host}'"
    for run in _running_runs(client, experiment_id, condition):
        tags = run.data.tags
        pid = tags.get(PID_TAG, "")
        if not pid.isdigit() or process_alive(int(pid), tags.get(PID_START_TAG, "")):
            continue
        _fail(client, run, f"stale: process {pid} on {host} that ran this flow is gone "
                           "(killed); ended by the next run")
        ended.append(run.info.run_id)
    return ended


def end_own_runs(experiment_id: str, reason: str) -> list[str]:
    """End the RUNNING runs this process started (flow runs and variant runs, which carry
    the flow's owner tags) as FAILED, tagged with `reason`."""
    from mlflow import MlflowClient

    client = MlflowClient()
    own = owner_tags()
    condition = (f" and tags.`{HOST_TAG}` = '{own[HOST_TAG]}'"
                 f" and tags.`{PID_TAG}` = '{own[PID_TAG]}'")
    runs = _running_runs(client, experiment_id, condition)
    for run in runs:
        _fail(client, run, reason)
    return [run.info.run_id for run in runs]
