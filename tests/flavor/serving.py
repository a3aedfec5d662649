"""Serving a model as a user would, away from the checkout, and concurrent clients for it
(shared by tests/flavor/test_serve*.py and bench/bench_serve.py)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.servers import BIN_DIR, free_port, wait_for_http

CHECKOUT = Path(__file__).resolve().parents[2]
PYENV_BIN = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "bin"
# What a served model must never bring along.
COMPRESSION_STACK = ("mlflow_tflite", "tensorflow", "tf_keras", "tensorflow_model_optimization",
                     "ai_edge_quantizer", "prefect", "optuna", "dvc", "pydantic_settings")

_PREDICT_BLOCKED = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # importing it now raises ImportError
import mlflow, numpy as np
model = mlflow.pyfunc.load_model({uri!r})
np.save("y.npy", model.predict(np.load("x.npy")))
print(type(model.get_raw_model()).__module__)
"""


def predict_without_the_package(model_uri: str, x: np.ndarray,
                                workdir: Path) -> tuple[np.ndarray, str]:
    """Load `model_uri` with pyfunc and predict `x` in a fresh interpreter that cannot
    import the package or the compression stack (as in an environment built from the
    model's requirements); returns the outputs and the module of the raw model's class."""
    np.save(workdir / "x.npy", x)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = _PREDICT_BLOCKED.format(blocked=COMPRESSION_STACK, uri=model_uri)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=workdir, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return np.load(workdir / "y.npy"), result.stdout.split()[-1]


def register_champion(directory: Path, content: bytes, name: str) -> str:
    """`content` logged with the flavor, registered as `name` and aliased `champion` in a
    SQLite store in `directory` (which may hold a migrated `mlflow.db`); the store's URI."""
    import mlflow

    import mlflow_tflite

    uri = f"sqlite:///{directory / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        # Its own store's default experiment, whatever MLFLOW_EXPERIMENT_ID says.
        with mlflow.start_run(experiment_id="0"):
            info = mlflow_tflite.log_model(content, registered_model_name=name)
        mlflow.MlflowClient().set_registered_model_alias(
            name, "champion", info.registered_model_version)
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    return uri


def serve_env(**overrides: str) -> dict[str, str]:
    """The environment for a served model: nothing of the checkout on PYTHONPATH, pyenv on
    PATH (MLflow's virtualenv manager installs the model's Python with it)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    path = [str(BIN_DIR), str(PYENV_BIN), env.get("PATH", "")]
    return {**env, "PATH": os.pathsep.join(path), "MLFLOW_DISABLE_TELEMETRY": "true",
            **overrides}


def missing_env_tool() -> str | None:
    """Why `--env-manager virtualenv` cannot build here (neither pyenv nor uv), or None."""
    path = serve_env()["PATH"]
    if shutil.which("pyenv", path=path) or shutil.which("uv", path=path):
        return None
    return "neither pyenv nor uv is installed: MLflow cannot build a model's environment"


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_file: Path

    def env_dir(self) -> Path:
        """The virtualenv MLflow built (or reused) for the model, read from the log."""
        text = self.log_file.read_text()
        match = re.search(r"(?:Creating a new environment in|Environment) (\S+)", text)
        assert match, f"no virtualenv named in the serve log:\n{text[-2000:]}"
        return Path(match.group(1))


@contextlib.contextmanager
def serve(command: list[str], cwd: Path, env: dict[str, str], timeout: float) -> Iterator[Server]:
    """Run a serving command (with `{port}` in it) from `cwd`; stop its process group after."""
    assert not cwd.resolve().is_relative_to(CHECKOUT), f"{cwd} is inside the checkout"
    port = free_port()
    log_file = cwd / f"serve-{port}.log"
    with open(log_file, "w") as log:
        process = subprocess.Popen(
            [part.replace("{port}", str(port)) for part in command], stdout=log,
            stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", process, log_file)
    try:
        wait_for_http(f"{server.url}/ping", process, log_file, timeout=timeout)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def mlflow_serve(model_uri: str, cwd: Path, env_manager: str = "virtualenv",
                 timeout: float = 1800, workers: int = 1,
                 **env: str) -> contextlib.AbstractContextManager[Server]:
    """`mlflow models serve -m MODEL_URI --env-manager ENV_MANAGER -w WORKERS` on a free
    loopback port.

    The first build of a model's virtualenv downloads its requirements (minutes); MLflow
    keeps it under ~/.mlflow/envs, keyed by the requirements, for the next serve."""
    command = [str(BIN_DIR / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager",
               env_manager, "-w", str(workers), "--host", "127.0.0.1", "-p", "{port}"]
    return serve(command, cwd, serve_env(**env), timeout)


def importable(python: Path, modules: tuple[str, ...], cwd: Path) -> dict[str, bool]:
    """Which modules an interpreter finds, run from `cwd` with the serving environment."""
    code = ("import importlib.util, json, sys\n"
            "print(json.dumps({m: importlib.util.find_spec(m) is not None for m in sys.argv[1:]}))")
    result = subprocess.run([str(python), "-c", code, *modules], capture_output=True, text=True,
                            cwd=cwd, env=serve_env(), check=True, timeout=120)
    return json.loads(result.stdout)


def post(url: str, body: bytes, timeout: float = 60) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text or b"{}")
        except ValueError:
            return error.code, {"message": text.decode(errors="replace")[:200]}


@dataclass
class Load:
    """What concurrent clients saw: per request kind, latencies (s) and problems."""

    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def percentile_ms(self, q: float, kind: str | None = None) -> float:
        values = [x for k, v in self.latencies.items() if kind in (None, k) for x in v]
        return float(np.percentile(values, q) * 1000)


KINDS = ("good", "good", "wrong_shape", "nan")


def bodies(good: list[np.ndarray]) -> dict[str, list[bytes]]:
    """JSON request bodies per kind: each good batch, the first cut to a wrong shape, and
    the first with a NaN (JSON NaN, which the scoring server parses)."""
    nan = good[0].copy()
    nan.reshape(-1)[0] = np.nan
    return {
        "good": [json.dumps({"inputs": x.tolist()}).encode() for x in good],
        "wrong_shape": [json.dumps({"inputs": good[0][:, :7].tolist()}).encode()],
        "nan": [json.dumps({"inputs": nan.tolist()}).encode()],
    }


def hammer(url: str, good: list[np.ndarray], expected: list[np.ndarray], clients: int,
           requests: int) -> Load:
    """`clients` threads send `requests` each to /invocations, cycling through KINDS (good
    batches in turn): a good one must get 200 and `expected` (a direct LiteRT call's
    answer), a bad one 400; anything else is a problem."""
    payloads = bodies(good)
    load = Load(latencies={k: [] for k in payloads}, statuses={k: {} for k in payloads})
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client(c: int) -> None:
        start.wait()
        for i in range(requests):
            kind = KINDS[(c + i) % len(KINDS)]
            which = (c * requests + i) % len(payloads[kind])
            began = time.perf_counter()
            try:
                status, body = post(f"{url}/invocations", payloads[kind][which])
            except OSError as error:
                status, body = 0, {"message": f"{type(error).__name__}: {error}"}
            took = time.perf_counter() - began
            problem = None
            if kind == "good" and status != 200:
                problem = f"good request got {status}: {body.get('message', '')[:200]}"
            elif kind == "good" and not np.allclose(
                    np.asarray(body["predictions"], np.float32), expected[which]):
                problem = "good request got a wrong answer"
            elif kind != "good" and status != 400:
                problem = f"{kind} request got {status}: {str(body)[:200]}"
            with lock:
                load.latencies[kind].append(took)
                load.statuses[kind][status] = load.statuses[kind].get(status, 0) + 1
                if problem:
                    load.problems.append(f"client {c} request {i}: {problem}")

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    load.seconds = time.perf_counter() - began
    return load
