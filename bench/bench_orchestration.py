"""What orchestration and tracking cost: the flow against a plain script, reruns, Dask
fan-out, scaling with the number of variants, and start-up.

    python bench/bench_orchestration.py                       # prints the tables
    python bench/bench_orchestration.py --output bench/RESULTS.md   # also appends them

Every figure is the wall time of a fresh process (imports included), each flow in its own
temporary directory with a fresh artifact store and a pre-migrated SQLite MLflow store
(a team's store exists already; creating one costs ~3 s once):
1. `mlflow-tflite run` on params.yaml against bench/plain_pipeline.py (same TensorFlow
   work, no Prefect/MLflow/DVC); target <= 1.10x. Twice: with embedded Prefect (a
   temporary API server booted by the run) and against a running `prefect server start`
   (a team's set-up, see docs/team.md).
2. the same `mlflow-tflite run` again, nothing changed, against the first; target <= 0.05x.
   Also `--force` (the whole flow again, every step reused, a new MLflow run).
3. 8 variants on a Dask LocalCluster of 1 and of 2 workers: speedup, peak RSS per worker.
4. 4, 8 and 16 variants (threads): wall time per variant and marginal cost per variant.
5. `mlflow-tflite --help` and `import mlflow_tflite` (median of 5; TensorFlow not imported).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {
    **os.environ,
    "TF_USE_LEGACY_KERAS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
}
ENV.pop("MLFLOW_TRACKING_URI", None)
ENV.pop("PREFECT_API_URL", None)
PTQ = [("fp32", "none"), ("dynamic", "dynamic"), ("float16", "float16"), ("int8", "int8")]


def _watch_memory(process: psutil.Process, peaks: dict[int, tuple[str, float]],
                  stop: threading.Event) -> None:
    """Peak RSS (MB) of every descendant of `process`, sampled every 0.2 s."""
    while not stop.is_set():
        try:
            children = process.children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            try:
                rss = child.memory_info().rss / 2**20
                cmd = " ".join(child.cmdline())
            except psutil.Error:
                continue
            if rss > peaks.get(child.pid, ("", 0.0))[1]:
                peaks[child.pid] = (cmd, rss)
        stop.wait(0.2)


def timed(cmd: list[str], cwd: Path, memory: bool = False,
          env: dict[str, str] | None = None) -> tuple[float, str, dict]:
    """Wall seconds, output tail and (with memory) peak RSS per descendant process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env or ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    peaks: dict[int, tuple[str, float]] = {}
    stop = threading.Event()
    watcher = None
    if memory:
        watcher = threading.Thread(target=_watch_memory,
                                   args=(psutil.Process(proc.pid), peaks, stop), daemon=True)
        watcher.start()
    out, _ = proc.communicate()
    took = time.perf_counter() - start
    stop.set()
    if watcher:
        watcher.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}")
    return took, out, peaks


def workdir(name: str, params: dict[str, Any], template_db: Path) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=template_db.parent))
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.copy(template_db, path / "mlflow.db")
    return path


def migrated_db(base: Path) -> Path:
    db = base / "template.db"
    subprocess.run([sys.executable, "-c",
                    f"import mlflow; mlflow.MlflowClient('sqlite:///{db}').search_experiments()"],
                   env=ENV, check=True, capture_output=True)
    return db


def run_flow(cwd: Path, *extra: str, memory: bool = False,
             env: dict[str, str] | None = None) -> tuple[float, str, dict]:
    return timed([str(BIN / "mlflow-tflite"), "run", *extra], cwd, memory=memory, env=env)


@contextlib.contextmanager
def prefect_server(base: Path, port: int = 4299) -> Iterator[dict[str, str]]:
    """A `prefect server start` with its own database; yields the env that points at it."""
    env = {**ENV, "PREFECT_HOME": str(base / "prefect-home")}
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port),
         "--no-ui", "--analytics-off"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("prefect server start did not come up") from None
                time.sleep(0.5)
        yield {**env, "PREFECT_API_URL": url}
    finally:
        server.terminate()
        server.wait(timeout=30)


def summary_line(out: str) -> str:
    return next((line.strip() for line in out.splitlines() if line.startswith("baseline ")), "")


def median_time(cmd: list[str], runs: int = 5) -> float:
    return statistics.median(timed(cmd, ROOT)[0] for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="append the results to this markdown")
    parser.add_argument("--only", nargs="*", default=["1", "2", "3", "4", "5"],
                        help="which measurements (1-5)")
    args = parser.parse_args()
    started = time.perf_counter()
    default = yaml.safe_load((ROOT / "params.yaml").read_text())
    base = Path(tempfile.mkdtemp(prefix="bench-orch-"))
    template = migrated_db(base)
    rows: list[tuple[str, str, str, str]] = []
    notes: list[str] = []
    load_before = os.getloadavg()

    if "1" in args.only or "2" in args.only:
        flow_dir = workdir("flow", default, template)
        plain, _, _ = timed([sys.executable, str(ROOT / "bench/plain_pipeline.py")], flow_dir)
        first, out, _ = run_flow(flow_dir)
        notes.append(f"first run: {summary_line(out)}")
        rows.append(("1a. flow, embedded Prefect / plain script (params.yaml, cold store)",
                     f"{first:.1f} s / {plain:.1f} s", f"{first / plain:.2f}x", "<= 1.10x"))
        with prefect_server(base) as server_env:
            served, _, _ = run_flow(workdir("served", default, template), env=server_env)
        rows.append(("1b. flow, running Prefect server / plain script",
                     f"{served:.1f} s / {plain:.1f} s", f"{served / plain:.2f}x", "<= 1.10x"))
        rerun, out, _ = run_flow(flow_dir)
        notes.append(f"rerun: {out.splitlines()[0][:100]}...")
        rows.append(("2. rerun, nothing changed / first run", f"{rerun:.1f} s / {first:.1f} s",
                     f"{rerun / first:.3f}x", "<= 0.05x"))
        forced, out, _ = run_flow(flow_dir, "--force")
        notes.append(f"rerun --force: {summary_line(out)}")
        rows.append(("2b. rerun --force (flow runs, every step reused) / first run",
                     f"{forced:.1f} s / {first:.1f} s", f"{forced / first:.3f}x", "(report)"))

    if "3" in args.only:
        eight = [v for v in default["variants"] if v["name"] != "int16x8"][:8]
        times = {}
        for workers in (1, 2):
            params = {**default, "variants": eight,
                      "runner": {"type": "dask", "workers": workers}}
            took, out, peaks = run_flow(workdir(f"dask{workers}", params, template),
                                        "--no-cache", memory=True)
            times[workers] = took
            worker_rss = sorted((rss for cmd, rss in peaks.values()
                                 if "multiprocessing" in cmd and "coldstart" not in cmd),
                                reverse=True)[:workers]
            notes.append(f"dask {workers} worker(s): {took:.1f} s, peak RSS per worker "
                         + ", ".join(f"{rss:.0f} MB" for rss in worker_rss))
        rows.append(("3. 8 variants, Dask 1 worker / 2 workers",
                     f"{times[1]:.1f} s / {times[2]:.1f} s",
                     f"speedup {times[1] / times[2]:.2f}x", "(report)"))

    if "4" in args.only:
        times = {}
        for count in (4, 8, 16):
            variants = [{"name": f"{name}-{i}", "convert": {"quantization": q}}
                        for i in range(count // len(PTQ)) for name, q in PTQ]
            params = {**default, "variants": variants, "promote": {"enabled": True}}
            times[count], _, _ = run_flow(workdir(f"n{count}", params, template), "--no-cache")
        per = {n: t / n for n, t in times.items()}
        marginal = [(times[8] - times[4]) / 4, (times[16] - times[8]) / 8]
        rows.append(("4. 4 / 8 / 16 variants (threads)",
                     " / ".join(f"{times[n]:.1f} s" for n in (4, 8, 16)),
                     f"marginal {marginal[0]:.2f} -> {marginal[1]:.2f} s/variant",
                     "flat"))
        notes.append("wall time per variant: "
                     + ", ".join(f"{n}: {p:.2f} s" for n, p in per.items()))

    if "5" in args.only:
        help_s = median_time([str(BIN / "mlflow-tflite"), "--help"])
        import_s = median_time([sys.executable, "-c", "import mlflow_tflite"])
        bare_s = median_time([sys.executable, "-c", "pass"])
        tf = subprocess.run(
            [sys.executable, "-c", "import sys, mlflow_tflite; "
             "print(sorted({'tensorflow', 'mlflow', 'prefect'} & set(sys.modules)))"],
            env=ENV, capture_output=True, text=True, check=True).stdout.strip()
        rows.append(("5. `mlflow-tflite --help` / `import mlflow_tflite`",
                     f"{help_s:.2f} s / {import_s:.2f} s", f"python itself {bare_s:.2f} s",
                     "no TensorFlow"))
        notes.append(f"heavy modules loaded by `import mlflow_tflite`: {tf}")

    total = time.perf_counter() - started
    shutil.rmtree(base, ignore_errors=True)
    table = ["| measurement | wall time | ratio | target |", "| --- | --- | --- | --- |"]
    table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join([
        f"- run: {stamp}, bench total {total:.0f} s; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs; Python {platform.python_version()}; load average "
        f"{', '.join(f'{x:.2f}' for x in load_before)} before, "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} after",
        *[f"- {note}" for note in notes], "", *table, ""])
    print(text)
    if args.output:
        with open(args.output, "a") as out:
            out.write(f"\n### Measured (`python bench/bench_orchestration.py "
                      f"--only {' '.join(args.only)}`)\n\n{text}")


if __name__ == "__main__":
    main()
