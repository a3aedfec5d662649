"""Cold start and peak memory, each sample in a fresh Python process.

A process that has already imported TensorFlow, trained a model or run other `.tflite`
models has warm allocators, loaded kernels and a larger heap, which hides exactly the
costs a phone app pays on launch. So each sample runs
`python -m mlflow_tflite.measure.coldstart_probe` (see there for the memory definition)
and the median of `runs` samples is reported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlflow_tflite.litert import DEFAULT_DELEGATE

COLD_START_RUNS = 3
PROBE_TIMEOUT_S = 120


@dataclass(frozen=True)
class ColdStart:
    """Median cold start (load + allocate + first invoke) and peak memory over runs.

    `anon_delta_mb` / `file_delta_mb` split the resident growth after the first invoke
    into heap (weights copied, tensor arena) and file-backed pages (the model file and
    LiteRT code touched for the first time).
    """

    cold_start_ms: float
    peak_memory_mb: float
    runs: int
    delegate: str
    threads: int | None
    samples_ms: list[float]
    anon_delta_mb: float = 0.0
    file_delta_mb: float = 0.0
    peak_memory_definition: str = (
        "peak RSS during load+allocate+first invoke minus RSS after importing LiteRT "
        "and NumPy, in a fresh process"
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _probe_once(path: Path, delegate: str, threads: int | None) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "mlflow_tflite.measure.coldstart_probe",
        str(path),
        "--delegate",
        delegate,
    ]
    if threads is not None:
        command += ["--threads", str(threads)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    # The probe must import this very package, wherever the parent imported it from.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=PROBE_TIMEOUT_S, check=False
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"cold-start probe failed ({delegate}): {reason}")
    return json.loads(lines[-1])


def measure_cold_start(
    model: bytes | str | Path,
    delegate: str = DEFAULT_DELEGATE,
    threads: int | None = 1,
    runs: int = COLD_START_RUNS,
) -> ColdStart:
    """Median cold start and peak memory of `runs` fresh processes.

    Raises:
        ValueError: runs < 1.
        RuntimeError: the probe process failed (its last stderr line is the reason).
    """
    if runs < 1:
        raise ValueError(f"runs should be >= 1, got {runs}")
    with tempfile.TemporaryDirectory(prefix="mlflow-tflite-coldstart-") as tmp:
        if isinstance(model, bytes | bytearray):
            path = Path(tmp) / "model.tflite"
            path.write_bytes(model)
        else:
            path = Path(model)
        samples = [_probe_once(path, delegate, threads) for _ in range(runs)]
    times = [float(s["cold_start_ms"]) for s in samples]
    return ColdStart(
        cold_start_ms=float(np.median(times)),
        peak_memory_mb=float(np.median([s["peak_memory_mb"] for s in samples])),
        runs=runs,
        delegate=delegate,
        threads=threads,
        samples_ms=times,
        anon_delta_mb=float(np.median([s["anon_delta_mb"] for s in samples])),
        file_delta_mb=float(np.median([s["file_delta_mb"] for s in samples])),
    )
