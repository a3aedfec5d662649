"""Measure one variant on every configured target: what the measure step calls.

A target that cannot measure (a missing runtime, an unreachable host, a timeout) records
one line under its name and logs nothing else; the variant and the other targets are
unaffected.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlflow_tflite.errors import first_line
from mlflow_tflite.plugins.target import TargetResult, get_kind

PROBE = Path(__file__).with_name("probe.py")
# The tag naming why a target measured nothing (`<target>/error`).
ERROR_TAG = "error"


@dataclass(frozen=True)
class TargetJob:
    """One variant for one target: what a kind's `measure` gets.

    Attributes:
        target: the target's name (the metric prefix).
        config: the target's settings (its kind's config).
        model_path: the variant's `.tflite`.
        inputs: one float array per model input, a row a sample (the first test samples).
        reference: LiteRT's outputs of this variant on those samples, one flat row each.
        benchmark: the `benchmark` section (warm-up, runs, threads).
        delegate: the delegate the variant was timed on here (the primary one, or
            `builtin` for a model XNNPACK refuses); a device times it on the same.
    """

    target: str
    config: Any
    model_path: str
    inputs: list[np.ndarray]
    reference: np.ndarray
    benchmark: Any
    delegate: str

    def settings(self, **extra: Any) -> dict[str, Any]:
        """The probe's settings: the benchmark's, and how many outputs to read."""
        return {"warmup_runs": self.benchmark.warmup_runs,
                "timed_runs": self.benchmark.timed_runs,
                "threads": self.benchmark.threads,
                "delegate": self.delegate,
                "outputs": self.outputs, **extra}

    @property
    def outputs(self) -> int:
        from mlflow_tflite.litert import make_interpreter

        return len(make_interpreter(self.model_path, self.delegate).get_output_details())

    def write_inputs(self, directory: Path) -> tuple[Path, Path]:
        """`inputs.npz` and `settings.json` for the probe, in `directory`."""
        inputs = directory / "inputs.npz"
        np.savez(inputs, **{f"input_{i}": a.astype(np.float32) for i, a in enumerate(self.inputs)})
        settings = directory / "settings.json"
        settings.write_text(json.dumps(self.settings()))
        return inputs, settings


def run_probe(command: list[str], timeout: float, where: str) -> dict[str, Any]:
    """Run the probe (`command` ends with its arguments) and parse its JSON line.

    Raises:
        RuntimeError: one line: the timeout, the exit status and last stderr line, or
            output that is not the probe's JSON; prefixed with `where`.
    """
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{where}: timed out after {timeout:g} s") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        errors = [line for line in done.stderr.splitlines() if line.strip()]
        why = errors[-1].strip() if errors else f"exit status {done.returncode}"
        raise RuntimeError(f"{where}: {why}")
    return json.loads(lines[-1])


def local_probe(runtime: str, job: TargetJob, timeout: float) -> dict[str, Any]:
    """The probe's result for `job` on this machine's `runtime` (`tflm`, `litert`)."""
    with tempfile.TemporaryDirectory(prefix="mlflow-tflite-target-") as tmp:
        inputs, settings = job.write_inputs(Path(tmp))
        return run_probe([sys.executable, str(PROBE), runtime, job.model_path, str(inputs),
                          str(settings)], timeout, runtime)


def fidelity_and_latency(result: Mapping[str, Any], reference: np.ndarray) -> dict[str, float]:
    """`output_snr_db` of the probe's outputs against LiteRT's, and the latency percentiles."""
    from mlflow_tflite.measure.quality import output_snr_db

    outputs = np.asarray(result["outputs"], dtype=np.float32)
    timings = np.asarray(result["latency_ms"], dtype=np.float64)
    return {"output_snr_db": output_snr_db(outputs, reference),
            "latency_p50_ms": float(np.percentile(timings, 50)),
            "latency_p90_ms": float(np.percentile(timings, 90))}


def measure_targets(targets: Mapping[str, Any], model_path: str | Path, x: Any,
                    benchmark: Any, samples: int = 32,
                    delegate: str | None = None) -> dict[str, Any]:
    """Every target's measurement of the variant at `model_path`.

    Args:
        targets: the `targets` section (name -> its kind's config).
        model_path: the variant's `.tflite`.
        x: the test split's inputs (the first `samples` rows are run on each target).
        benchmark: the `benchmark` section.
        samples: how many test rows each target runs.
        delegate: the delegate the variant was timed on here (default: the primary one).

    Returns:
        `{"metrics": {<target>/<metric>: value}, "tags": {<target>/<tag>: text},
        "errors": {<target>: one line}, "kinds": {<target>: kind}}`; a failed target adds
        `<target>/error`.
    """
    from mlflow_tflite.litert import make_interpreter
    from mlflow_tflite.measure.outputs import model_inputs, reference_outputs

    found: dict[str, Any] = {"metrics": {}, "tags": {}, "errors": {},
                             "kinds": {name: config.kind for name, config in targets.items()}}
    if not targets:
        return found
    rows = x[:samples]
    delegate = delegate or benchmark.primary_delegate
    try:
        inputs = [np.asarray(a, dtype=np.float32)
                  for a in model_inputs(make_interpreter(str(model_path), delegate), rows)]
        reference = reference_outputs(str(model_path), rows, delegate=delegate)
    except Exception as error:  # no reference, no target: the variant stays measured
        for name in targets:
            found["errors"][name] = f"no LiteRT reference: {first_line(error)}"
            found["tags"][f"{name}/{ERROR_TAG}"] = found["errors"][name]
        return found
    for name, config in targets.items():
        job = TargetJob(name, config, str(model_path), inputs, reference, benchmark, delegate)
        try:
            result = get_kind(config.kind).measure(job)
        except Exception as error:  # a target's failure is that target's only
            result = TargetResult(error=first_line(error))
        found["metrics"].update({f"{name}/{k}": float(v) for k, v in result.metrics.items()})
        found["tags"].update({f"{name}/{k}": str(v) for k, v in result.tags.items()})
        if result.error:
            found["errors"][name] = result.error
            found["tags"][f"{name}/{ERROR_TAG}"] = result.error
    return found
