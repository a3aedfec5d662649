"""Our timer against a plain LiteRT loop, interleaved in one process (issue 29, item 5c).

    python bench/bench_timer.py [--rounds 5] FILE.tflite [FILE.tflite ...]

Per file, `--rounds` rounds; each round runs every case once, in turn, so load from other
processes falls on all of them alike, and the table gives each case's median over the
rounds and its ratio to the plain loop (the median of the per-round ratios):

- `plain`: `Interpreter(model_path=..., num_threads=1)`, zeros set once, 20 warm-up
  invokes, median of 200 (the loop the issue describes); `plain random`: random input;
- `benchmark`: what `mlflow-tflite benchmark --threads 1 --runs 200` measures, in this
  process (the command's own config: its delegates, 5 warm-up, 200 runs; no cold start,
  which runs after the timing in other processes), the primary delegate's p50;
- `benchmark CLI`: the command itself as a fresh process, p50 from its `--json`;
- `plain CLI`: the plain loop as a fresh process, for the CLI to be compared with like.

`--paired`: only our timing path (`measure.latency.prepare`: the flatbuffer's bytes, 5
warm-up invokes, `perf_counter_ns`) against the plain loop, in one process, alternating
blocks of 10 invokes between the two interpreters, 200 each per round: the load of each
moment falls on both, so the ratio measures the timers alone.

The files are not shipped here: `pip download mediapipe==0.10.21 --no-deps`, then unzip
its `mediapipe/modules/*.tflite` (see bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

WARMUP, RUNS = 20, 200
# The plain loop, runnable as `python -c` in a fresh process.
PLAIN = """
import sys, time, statistics, numpy as np
from ai_edge_litert.interpreter import Interpreter
def plain(path, random=False, warmup=20, runs=200):
    interpreter = Interpreter(model_path=path, num_threads=1)
    interpreter.allocate_tensors()
    for d in interpreter.get_input_details():
        shape, dtype = d["shape"], d["dtype"]
        value = (np.random.default_rng(0).random(shape).astype(dtype) if random
                 else np.zeros(shape, dtype))
        interpreter.set_tensor(d["index"], value)
    for _ in range(warmup):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3
if __name__ == "__main__":
    print(plain(sys.argv[1]))
"""
namespace: dict = {"__name__": "plain"}
exec(PLAIN, namespace)  # noqa: S102 - the same source the fresh process runs
plain = namespace["plain"]


def benchmark_in_process(path: Path) -> float:
    """The primary delegate's p50 as `mlflow-tflite benchmark --threads 1 --runs 200`."""
    from mlflow_tflite.cli.benchmark import _config
    from mlflow_tflite.measure import measure_variant

    args = argparse.Namespace(delegates=None, threads=1, warmup=5, runs=RUNS,
                              no_cold_start=True)
    return measure_variant(path, config=_config(args)).primary.p50_ms


def benchmark_cli(path: Path) -> float:
    command = [str(Path(sys.executable).parent / "mlflow-tflite"), "benchmark", str(path),
               "--threads", "1", "--runs", str(RUNS), "--no-cold-start", "--json"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out)["metrics"]["latency_p50_ms"]


def plain_cli(path: Path) -> float:
    out = subprocess.run([sys.executable, "-c", PLAIN, str(path)], capture_output=True,
                         text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


CASES = {
    "plain": lambda p: plain(str(p)),
    "plain random": lambda p: plain(str(p), random=True),
    "benchmark": benchmark_in_process,
    "benchmark CLI": benchmark_cli,
    "plain CLI": plain_cli,
}


def _plain_block(interpreter, count: int, times: list[float]) -> None:
    for _ in range(count):
        begin = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - begin)


def paired_rows(path: Path, rounds: int, block: int = 10) -> list[list[str]]:
    """Our timing path against the plain loop, alternating blocks of `block` invokes in one
    process: the same moments' load on both, so their ratio is the timers' difference."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    from mlflow_tflite.measure.latency import prepare, time_invokes

    ratios, ours_p50, plain_p50 = [], [], []
    for _ in range(rounds):
        interpreter = Interpreter(model_path=str(path), num_threads=1)
        interpreter.allocate_tensors()
        for d in interpreter.get_input_details():
            interpreter.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
        for _ in range(WARMUP):
            interpreter.invoke()
        ours = prepare(path.read_bytes(), "xnnpack", 1, 5, RUNS, None)
        mine = np.empty(RUNS, dtype=np.int64)
        theirs = []
        for number, start in enumerate(range(0, RUNS, block)):
            # Who goes first alternates, as in measure.interleaved.
            if number % 2:
                _plain_block(interpreter, block, theirs)
            time_invokes(ours.invoke, mine, start, block)
            if not number % 2:
                _plain_block(interpreter, block, theirs)
        ours_p50.append(float(np.median(mine)) / 1e6)
        plain_p50.append(statistics.median(theirs) * 1e3)
        ratios.append(ours_p50[-1] / plain_p50[-1])
    return [[path.name, f"{statistics.median(plain_p50):.3f}",
             f"{statistics.median(ours_p50):.3f}",
             f"{statistics.median(ratios):.3f}", f"{min(ratios):.3f}-{max(ratios):.3f}"]]


def rows(path: Path, rounds: int) -> list[list[str]]:
    found: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(rounds):
        for name, case in CASES.items():
            found[name].append(case(path))
    base = found["plain"]
    table = []
    for name, values in found.items():
        ratios = [v / b for v, b in zip(values, base, strict=True)]
        table.append([path.name, name, f"{statistics.median(values):.3f}",
                      f"{min(values):.3f}-{max(values):.3f}", f"{statistics.median(ratios):.3f}"])
    return table


def main(argv: list[str] | None = None) -> int:
    from tabulate import tabulate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--paired", action="store_true",
                        help="only our timing path against the plain loop, blocks alternating")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    started = time.time()
    if args.paired:
        table = [row for path in args.files for row in paired_rows(path, args.rounds)]
        print(tabulate(table, headers=["file", "plain p50 ms", "ours p50 ms",
                                       "ours / plain (median of rounds)", "range"],
                       tablefmt="github"))
        print(f"\n{args.rounds} rounds, {time.time() - started:.0f} s")
        return 0
    table = [row for path in args.files for row in rows(path, args.rounds)]
    print(tabulate(table, headers=["file", "case", "p50 ms (median of rounds)",
                                   "range", "/ plain (median)"], tablefmt="github"))
    print(f"\n{args.rounds} rounds, {time.time() - started:.0f} s; load average "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
