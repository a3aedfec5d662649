"""A team's search: trials per hour with one and with two `mlflow-tflite search` processes
on one PostgreSQL study, same params and budget.

    python bench/bench_team_search.py                          # prints the table
    python bench/bench_team_search.py --output bench/RESULTS.md   # also appends it

Each row is a fresh study (a new PostgreSQL database) and one `mlflow server` (on a
PostgreSQL database of its own) shared by every row. Every search process runs from its
own working directory (its own artifact store, as a machine would) with TensorFlow and
LiteRT limited to one thread (TF_NUM_INTRAOP_THREADS, TF_NUM_INTEROP_THREADS,
OMP_NUM_THREADS, `benchmark.threads: 1`), so two processes on two cores do not fight.
Trials per hour counts the trial phase from the study's own timestamps (first trial
started to last trial finished); the wall time includes start-up and each process's
baseline training.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import fresh_postgres_database, start_mlflow_server  # noqa: E402

BIN = Path(sys.executable).parent
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
              "OMP_NUM_THREADS": "1"}
ENV = {
    **os.environ, **ONE_THREAD,
    "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
}
ENV.pop("PREFECT_API_URL", None)


def params(trials: int, storage: str, experiment: str) -> dict[str, Any]:
    """Digits, a 1-epoch baseline; every trial prunes for one epoch (never stopped early,
    so trials cost alike whoever runs them) and quantizes; one trial at a time."""
    return {
        "data": {"source": "digits", "seed": 0},
        "train": {"epochs": 1, "batch_size": 64, "seed": 0},
        "variants": [{"name": "fp32", "convert": {"quantization": "none"}}],
        "benchmark": {"delegates": ["xnnpack"], "threads": 1, "warmup_runs": 2,
                      "timed_runs": 20, "cold_start": False},
        "mlflow": {"experiment": experiment, "registered_model_name": experiment},
        "search": {
            "space": {"prune": {"use": True, "final_sparsity": {"low": 0.3, "high": 0.8},
                                "epochs": 1},
                      "convert": {"quantization": {"choices": ["int8", "dynamic",
                                                               "float16"]}}},
            "budget": {"trials": trials, "minutes": None}, "parallel": 1,
            "storage": storage, "sampler": "random", "seed": 0,
            "pruner": {"max_val_drop": 1.0},
        },
    }


def run_row(processes: int, budget: int, server_url: str, work: Path) -> dict[str, Any]:
    """`processes` search processes started together on a new study; their figures."""
    import optuna

    with fresh_postgres_database() as storage:
        experiment = f"team-bench-{processes}"
        env = {**ENV, "MLFLOW_TRACKING_URI": server_url}
        started = time.perf_counter()
        running = []
        for machine in range(processes):
            directory = work / f"{processes}-{machine}"
            directory.mkdir(parents=True)
            (directory / "params.yaml").write_text(
                yaml.safe_dump(params(budget, storage, experiment)))
            running.append(subprocess.Popen([str(BIN / "mlflow-tflite"), "search"],
                                            cwd=directory, env=env,
                                            stdout=(directory / "search.log").open("w"),
                                            stderr=subprocess.STDOUT))
        codes = [process.wait() for process in running]
        wall = time.perf_counter() - started
        (summary,) = optuna.get_all_study_summaries(storage)
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        trials = study.get_trials()
        done = [t for t in trials if t.datetime_complete is not None]
        first = min(t.datetime_start for t in done)
        last = max(t.datetime_complete for t in done)
    phase = (last - first).total_seconds()
    owners = {t.user_attrs.get("mlflow_tflite.owner") for t in done}
    return {"processes": processes, "exit": codes, "trials": len(trials),
            "finished": len(done), "owners": len(owners), "wall_s": wall, "phase_s": phase,
            "per_hour": len(done) / phase * 3600}


def table(rows: list[dict[str, Any]]) -> str:
    base = rows[0]["per_hour"]
    lines = ["| search processes | exit codes | trials (finished) | processes that ran trials "
             "| trial phase (s) | wall incl. start-up (s) | trials / hour | vs. one |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        lines.append(f"| {row['processes']} | {row['exit']} | {row['trials']} "
                     f"({row['finished']}) | {row['owners']} | {row['phase_s']:.0f} | "
                     f"{row['wall_s']:.0f} | {row['per_hour']:.0f} | "
                     f"{row['per_hour'] / base:.2f}x |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10, help="the study's budget")
    parser.add_argument("--output", type=Path, default=None,
                        help="append the table to this markdown file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-team-") as tmp:
        work = Path(tmp)
        with fresh_postgres_database() as store, \
                start_mlflow_server(store, work / "artifacts") as server:
            rows = [run_row(n, args.trials, server.url, work) for n in (1, 2)]
    load = os.getloadavg()
    text = (f"## A team's search (bench/bench_team_search.py), "
            f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n\n"
            f"Command: `python bench/bench_team_search.py --trials {args.trials}`; "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load "
            f"average {load[0]:.1f} at the end (the machine is shared).\n\n{table(rows)}\n")
    print(text)
    if args.output:
        with args.output.open("a") as handle:
            handle.write(f"\n{text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
