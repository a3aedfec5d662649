"""Robustness: hostile params, data, models, requests and signals through every command.

    python bench/bench_faults.py                         # print the table
    python bench/bench_faults.py --output bench/RESULTS.md --only run-,bench-

Each case runs a real command (`mlflow-tflite ...` in its own process group, or a short
Python program for the flavor) in a fresh directory with its own SQLite store, then looks
at what it left: RUNNING runs, registered aliases that changed, live processes carrying
the case's environment marker (the Prefect server included), temporary or partial files.
A row: case, exit status, seconds to the end (from the signal for signal cases), the last
line, what was left behind. Target: one-line errors, within 30 s for anything that trains
nothing, nothing left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mlflow_tflite.cli.console import set_environment  # noqa: E402

# What every command sets before TensorFlow loads: tf_keras for tfmot, quiet C++ logs,
# no telemetry (Prefect's server otherwise prints a traceback offline).
set_environment(verbose=True)

from tests.cli.faults import Command, wait_gone  # noqa: E402
from tests.flows.conftest import TINY_PARAMS  # noqa: E402
from tests.servers import BIN_DIR, free_port, venv_env  # noqa: E402

NOISE = ("I0000", "E0000", "W0000", "WARNING: All log messages", "INFO: Created TensorFlow")
BASE = {**TINY_PARAMS, "variants": TINY_PARAMS["variants"][:2],
        "benchmark": {**TINY_PARAMS["benchmark"], "cold_start": False}}
FLAVOR = "import sys, numpy as np, mlflow, mlflow_tflite\n"


@dataclass
class Row:
    case: str
    status: int | str
    seconds: float
    last: str
    left: str
    trains: bool = False


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(NOISE)]


def _params(directory: Path, **changes: Any) -> None:
    params = json.loads(json.dumps(BASE))
    for dotted, value in changes.items():
        node = params
        *path, last = dotted.split(".")
        for key in path:
            node = node.setdefault(key, {})
        node[last] = value
    (directory / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _store_state(directory: Path) -> tuple[list[str], dict[str, Any]]:
    """(RUNNING run ids, {model: aliases}) of the case's SQLite store."""
    db = directory / "mlflow.db"
    if not db.is_file():
        return [], {}
    from mlflow import MlflowClient

    uri = f"sqlite:///{db}"
    client = MlflowClient(uri, uri)
    try:
        experiments = [e.experiment_id for e in client.search_experiments(view_type=3)]
        running = [r.info.run_id for r in client.search_runs(
            experiments, "attributes.status = 'RUNNING'")] if experiments else []
        aliases = {m.name: dict(m.aliases) for m in client.search_registered_models()}
    except Exception:  # noqa: BLE001 - a store the case broke on purpose
        return [], {}
    return running, aliases


def _partial(directory: Path, before: set[str]) -> list[str]:
    """Temporary entries anywhere, and top-level entries the command should not have made."""
    found = [str(p.relative_to(directory)) for p in directory.rglob(".*")
             if p.name.startswith((".tmp", ".stale-")) or p.parent.parent.name == "cache"]
    expected = {"mlflow.db", ".mlflow_tflite", "data", "reports", "saved", ".prefect-home",
                "keep-data", "mlruns"}
    return found + sorted({p.name for p in directory.iterdir()} - before - expected)


def _left(directory: Path, mark: str | None, before_files: set[str],
          aliases_before: dict[str, Any], failed: bool) -> str:
    running, aliases = _store_state(directory)
    items = []
    if running:
        items.append(f"{len(running)} RUNNING run(s)")
    if aliases != aliases_before:
        items.append(f"aliases {aliases_before} -> {aliases}")
    if mark and (procs := wait_gone(mark, timeout=10)):
        items.append(f"{len(procs)} process(es)")
    partial = _partial(directory, before_files)
    if failed and (directory / "data").exists() and not (directory / "keep-data").exists():
        partial.append("data/")
    if partial:
        items.append("files: " + ", ".join(partial[:4]))
    return "; ".join(items) or "nothing"


def command_case(name: str, args: list[str], directory: Path, *,
                 signal_after: tuple[str, int, bool] | None = None, trains: bool = False,
                 timeout: float = 600.0) -> Row:
    before = {p.name for p in directory.iterdir()}
    _, aliases = _store_state(directory)
    command = Command(args, directory)
    since = None
    try:
        if signal_after:
            text, signum, group = signal_after
            command.wait_for(text)
            since = command.signal(signum, group=group)
            if signum == signal.SIGKILL:
                command.process.wait()
        outcome = command.finish(timeout=timeout, since=since)
    finally:
        left_mark = command.mark
    lines = _lines("\n".join(outcome.lines))
    failed = outcome.status != 0
    left = _left(directory, left_mark, before, aliases, failed)
    command.kill()
    last = lines[-1] if lines else ""
    return Row(name, outcome.status, outcome.seconds, last, left, trains)


def python_case(name: str, code: str, directory: Path) -> Row:
    before = {p.name for p in directory.iterdir()}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", FLAVOR + code], cwd=directory,
                          capture_output=True, text=True, timeout=300, env=venv_env())
    lines = _lines(done.stdout + done.stderr)
    noise = [ln for ln in _lines(done.stderr) if "Exception ignored" in ln or "Traceback" in ln]
    left = _left(directory, None, before, {}, done.returncode != 0)
    if noise:
        left = f"{left}; stderr noise: {noise[0]}"
    return Row(name, done.returncode, time.monotonic() - started,
               lines[-1] if lines else "", left)


def _model(directory: Path) -> bytes:
    from tests.helpers import tiny_cnn, to_tflite

    path = directory.parent / "int8.tflite"
    if not path.is_file():
        path.write_bytes(to_tflite(tiny_cnn(), "int8", "int8"))
    return path.read_bytes()


def _npz(path: Path, **arrays: np.ndarray) -> str:
    np.savez(path, **arrays)
    return str(path)


def run_cases(d: Callable[[str], Path]) -> list[Callable[[], Row]]:
    """Cases that run `mlflow-tflite run` with hostile params, data or stores."""
    run = ["run", "--params", "params.yaml"]
    rng = np.random.default_rng(0)
    x = rng.random((40, 8, 8, 1)).astype(np.float32)
    y = np.arange(40) % 2

    def params_case(name: str, extra: list[str] | None = None, **changes: Any) -> Callable:
        def case() -> Row:
            directory = d(name)
            _params(directory, **changes)
            return command_case(name, run + (extra or []), directory)
        return case

    def file_case(name: str, text: str) -> Callable:
        def case() -> Row:
            directory = d(name)
            (directory / "params.yaml").write_text(text)
            return command_case(name, run, directory)
        return case

    def data_case(name: str, make: Callable[[Path], str]) -> Callable:
        def case() -> Row:
            directory = d(name)
            _params(directory, **{"data.source": make(directory)})
            return command_case(name, run, directory)
        return case

    def images(directory: Path, corrupt: bool) -> str:
        from PIL import Image

        for label in ("a", "b"):
            folder = directory / "img" / label
            folder.mkdir(parents=True)
            for i in range(6):
                Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8)).save(
                    folder / f"{i}.png")
        if corrupt:
            (directory / "img" / "a" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
        else:
            (directory / "img" / "c").mkdir()
        return str(directory / "img")

    def deleted_experiment() -> Row:
        from mlflow import MlflowClient

        directory = d("run-deleted-experiment")
        _params(directory)
        uri = f"sqlite:///{directory / 'mlflow.db'}"
        client = MlflowClient(uri, uri)
        client.delete_experiment(client.create_experiment(BASE["mlflow"]["experiment"]))
        return command_case("run-deleted-experiment", run, directory)

    return [
        params_case("run-params-negative-epochs", **{"train.epochs": -1}),
        params_case("run-params-unknown-key", **{"benchmark.typo": 1}),
        params_case("run-params-no-variants", **{"variants": []}),
        params_case("run-params-duplicate-names",
                    variants=[BASE["variants"][0], BASE["variants"][0]]),
        params_case("run-params-unknown-scheme",
                    variants=[{"name": "x", "convert": {"quantization": "int3"}}]),
        params_case("run-params-sparsity-1.5", variants=[{"name": "p", "compress": {
            "prune": {"final_sparsity": 1.5}}, "convert": {"quantization": "int8"}}]),
        params_case("run-set-not-a-number", ["--set", "train.epochs=abc"]),
        params_case("run-set-no-equals", ["--set", "train.epochs"]),
        params_case("run-set-missing-index", ["--set", "variants.9.name=x"]),
        params_case("run-params-bad-runner", **{"runner.type": "mpi"}),
        file_case("run-params-yaml-syntax", "data: {source: [digits\n"),
        file_case("run-params-a-list", "- 1\n- 2\n"),
        lambda: command_case("run-params-missing-file", ["run", "--params", "nope.yaml"],
                             d("run-params-missing-file")),
        data_case("run-data-missing-npz", lambda p: str(p / "none.npz")),
        data_case("run-data-length-mismatch",
                  lambda p: _npz(p / "l.npz", x_train=x, y_train=y[:30])),
        data_case("run-data-nan", lambda p: _npz(
            p / "n.npz", x_train=np.where(x > 0.99, np.nan, x), y_train=y)),
        data_case("run-data-one-class", lambda p: _npz(p / "o.npz", x_train=x,
                                                       y_train=np.zeros(40, int))),
        data_case("run-data-text-file",
                  lambda p: (p / "d.txt").write_text("x") and str(p / "d.txt")),
        data_case("run-data-empty-class-folder", lambda p: images(p, corrupt=False)),
        data_case("run-data-corrupt-png", lambda p: images(p, corrupt=True)),
        params_case("run-store-unreachable-port",
                    **{"mlflow.tracking_uri": f"http://127.0.0.1:{free_port()}"}),
        params_case("run-store-unwritable-path",
                    **{"mlflow.tracking_uri": "sqlite:////proc/mlflow.db"}),
        params_case("run-store-missing-directory",
                    **{"mlflow.tracking_uri": "sqlite:////nonexistent/dir/mlflow.db"}),
        params_case("run-store-unknown-scheme", **{"mlflow.tracking_uri": "foo://bar"}),
        deleted_experiment,
    ]


def model_cases(d: Callable[[str], Path]) -> list[Callable[[], Row]]:
    """`mlflow-tflite benchmark` and the other commands on hostile models and names."""

    def bench(name: str, content: Callable[[bytes], bytes | None], *extra: str) -> Callable:
        def case() -> Row:
            directory = d(name)
            model = _model(directory)
            target = directory / "m.tflite"
            if (data := content(model)) is not None:
                target.write_bytes(data)
            return command_case(name, ["benchmark", str(target), "--runs", "3",
                                       "--no-cold-start", *extra], directory)
        return case

    def plain(name: str, args: list[str]) -> Callable:
        def case() -> Row:
            directory = d(name)
            _params(directory)  # so each command meets the fault, not a missing params file
            return command_case(name, args, directory)
        return case

    return [
        bench("bench-truncated-header", lambda m: m[:64]),
        bench("bench-truncated-half", lambda m: m[: len(m) // 2]),
        bench("bench-empty-file", lambda m: b""),
        bench("bench-random-bytes", lambda m: os.urandom(4096)),
        bench("bench-missing-file", lambda m: None),
        bench("bench-missing-delegate-library", lambda m: m, "--delegate",
              "external:/missing.so"),
        bench("bench-zero-threads", lambda m: m, "--threads", "0"),
        bench("bench-negative-runs", lambda m: m, "--runs", "-1"),
        plain("bench-directory-without-model", ["benchmark", "."]),
        plain("bench-unknown-registered-model", ["benchmark", "models:/no-such-model/1"]),
        plain("promote-no-flow-run", ["promote", "--model-name", "nope"]),
        plain("rollback-unknown-model", ["rollback", "--model-name", "nope"]),
        plain("compare-unknown-run", ["compare", "--run-id", "0123456789abcdef"]),
        plain("schedule-bad-cron", ["schedule", "--cron", "not a cron"]),
    ]


def flavor_cases(d: Callable[[str], Path]) -> list[Callable[[], Row]]:
    """The Python API on hostile arguments and inputs (one short program each)."""

    def case(name: str, code: str) -> Callable:
        def run() -> Row:
            directory = d(name)
            (directory / "m.tflite").write_bytes(_model(directory))
            return python_case(name, code, directory)
        return run

    predict = ("m = mlflow.pyfunc.load_model(mlflow_tflite.save_model('m.tflite', 'saved') "
               "or 'saved')\nx = np.full((2, 8, 8, 1), 0.5, np.float32)\n")
    report = ("try:\n    print(m.predict(x).shape)\nexcept mlflow.exceptions.MlflowException "
              "as e:\n    print(e.error_code, e.message)\n")
    return [
        case("flavor-save-missing-delegate", "try:\n    mlflow_tflite.save_model('m.tflite', "
             "'out', delegate='external:/missing.so')\nexcept Exception as e:\n    "
             "print(type(e).__name__, e)\n"),
        case("flavor-predict-nan-int8", predict + "x[0, 0, 0, 0] = np.nan\n" + report),
        case("flavor-predict-inf-int8", predict + "x[1, 2, 3, 0] = -np.inf\n" + report),
        case("flavor-predict-out-of-range", "m = mlflow_tflite.load_model("
             "mlflow_tflite.save_model('m.tflite', 'saved') or 'saved')\n"
             "x = np.full((2, 8, 8, 1), 1e6, np.float32)\nm.predict(x)\n"
             "print('clipped', m.clipped)\n"),
        case("flavor-predict-strings", predict + "x = np.array([['a']])\n" + report),
        case("flavor-predict-wrong-shape", predict + "x = x[:, :7]\n" + report),
    ]


def _post(url: str, body: str) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body.encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()[:80]
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        with contextlib.suppress(ValueError):
            text = json.loads(text).get("message", text)
        return error.code, text.splitlines()[0][:100] if text else ""


def serve_cases(d: Callable[[str], Path]) -> list[Row]:
    """Hostile requests to `mlflow models serve` of the int8 model (one server)."""
    import mlflow_tflite

    directory = d("serve")
    mlflow_tflite.save_model(_model(directory), directory / "model")
    port = free_port()
    process = subprocess.Popen(
        [str(BIN_DIR / "mlflow"), "models", "serve", "-m", str(directory / "model"),
         "--env-manager", "local", "--host", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=venv_env(),
        start_new_session=True)
    url = f"http://127.0.0.1:{port}/invocations"
    good = np.full((1, 8, 8, 1), 0.5).tolist()
    bodies = {
        "serve-nan": json.dumps({"inputs": good}).replace("0.5", "NaN", 1),
        "serve-infinity": json.dumps({"inputs": good}).replace("0.5", "Infinity", 1),
        "serve-wrong-shape": json.dumps({"inputs": [[1.0, 2.0]]}),
        "serve-strings": json.dumps({"inputs": [["a"] * 64]}),
        "serve-empty-batch": json.dumps({"inputs": []}),
        "serve-not-json": "{inputs: ",
        "serve-out-of-range": json.dumps({"inputs": np.full((1, 8, 8, 1), 1e6).tolist()}),
        "serve-good-after-all": json.dumps({"inputs": good}),
    }
    rows = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        for name, body in bodies.items():
            started = time.monotonic()
            status, text = _post(url, body)
            rows.append(Row(name, f"HTTP {status}", time.monotonic() - started, text,
                            "nothing" if process.poll() is None else "server died"))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    return rows


def signal_cases(d: Callable[[str], Path]) -> list[Callable[[], Row]]:
    """Signals and reruns on real (tiny) training runs."""
    run = ["run", "--params", "params.yaml"]

    def signalled(name: str, text: str, signum: int, group: bool) -> Callable:
        def case() -> Row:
            directory = d(name)
            _params(directory)
            (directory / "keep-data").touch()  # data/ is prepared whole before the signal
            return command_case(name, run, directory, signal_after=(text, signum, group),
                                trains=True)
        return case

    def kill9_then_rerun() -> Row:
        directory = d("signal-kill-9-then-rerun")
        _params(directory)
        (directory / "keep-data").touch()
        first = command_case("kill -9", run, directory, trains=True,
                             signal_after=("Task run 'build-", signal.SIGKILL, False))
        second = command_case("rerun", run, directory, trains=True)
        return Row("signal-kill-9-then-rerun", f"{first.status} then {second.status}",
                   second.seconds, second.last, f"after kill: {first.left}; after rerun: "
                   f"{second.left}", True)

    def zero_epochs() -> Row:
        directory = d("train-zero-epochs-builtin")
        _params(directory, **{"train.epochs": 0})
        row = command_case("train-zero-epochs-builtin", run, directory, trains=True)
        running, aliases = _store_state(directory)
        row.left = f"{row.left}; registered aliases: {aliases or 'none'}"
        return row

    def cache_then_force() -> Row:
        directory = d("cache-truncated-then-rerun-and-force")
        _params(directory)
        first = command_case("first", run, directory, trains=True)
        builds = sorted((directory / ".mlflow_tflite/cache/build").glob("*/model.tflite"))
        builds[0].write_bytes(builds[0].read_bytes()[:100])
        again = command_case("rerun", run, directory, trains=True)
        builds[0].write_bytes(builds[0].read_bytes()[:100])
        forced = command_case("force", [*run, "--force"], directory, trains=True)
        _, aliases = _store_state(directory)
        return Row("cache-truncated-then-rerun-and-force",
                   f"{first.status}, {again.status}, {forced.status}", forced.seconds,
                   forced.last, f"{forced.left}; aliases {aliases}", True)

    return [
        signalled("signal-ctrl-c-to-group", "Task run 'train-baseline", signal.SIGINT, True),
        signalled("signal-sigterm-to-main", "Task run 'build-", signal.SIGTERM, False),
        kill9_then_rerun,
        zero_epochs,
        cache_then_force,
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="append the table to this markdown file")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mlflow-tflite-faults"))
    args = parser.parse_args()
    import shutil

    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)

    def d(name: str) -> Path:
        path = args.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    rows: list[Row] = []
    groups = [run_cases(d), model_cases(d), flavor_cases(d), signal_cases(d)]
    for case in [c for group in groups for c in group]:
        rows.append(row := case())
        print(f"{row.case:40} {row.status!s:>12} {row.seconds:6.1f}s  {row.last[:100]}  "
              f"[{row.left}]", flush=True)
    rows.extend(serve_cases(d))
    table = _markdown(rows)
    print(table)
    if args.output:
        _append(args.output, table, rows)
    return 0


def _markdown(rows: list[Row]) -> str:
    lines = ["| case | exit | seconds | last line | left behind |", "|---|---|---|---|---|"]
    for row in rows:
        last = row.last.replace("|", "\\|")[:160]
        lines.append(f"| {row.case} | {row.status} | {row.seconds:.1f} | {last} | "
                     f"{row.left.replace('|', '/')} |")
    return "\n".join(lines)


def _append(path: Path, table: str, rows: list[Row]) -> None:
    untrained = [r for r in rows if not r.trains and not str(r.status).startswith("HTTP")]
    slow = [r.case for r in untrained if r.seconds > 30]
    dirty = [r.case for r in rows if not r.left.startswith("nothing")]
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    summary = (f"{len(rows)} cases; untrained cases over 30 s: {', '.join(slow) or 'none'}; "
               f"cases leaving something behind: {', '.join(dirty) or 'none'}.")
    with path.open("a") as out:
        out.write(f"\n\n## Faults and hostile input ({when})\n\n`{command}` on a shared "
                  f"2-core machine.\n\n{summary}\n\n{table}\n")


if __name__ == "__main__":
    sys.exit(main())
