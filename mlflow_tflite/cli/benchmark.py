"""`mlflow-tflite benchmark MODEL`: measure one `.tflite` file or logged model.

MODEL is a `.tflite` path, a model directory with an MLmodel file, or an MLflow URI
(`models:/name/1`, `models:/name@champion`, `runs:/<id>/model`). Prints a table of
latency per delegate and the model's size, sparsity, ops, integer-only and GPU
compatibility; `--json` prints the whole measurement instead. `--log` records the
metrics under the catalogue's names (mlflow_tflite.metrics) in the run named by
$MLFLOW_RUN_ID (its status is left alone), else the active run, else a new run.
`--against FLOAT.tflite` adds the per-layer error table (cli/against.py) and, with
`--log`, logs it as a flow run's variants do.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_tflite.cli import CommandError, first_line
from mlflow_tflite.cli.benchmark_log import DEFAULT_EXPERIMENT, all_metrics, log_measurement
from mlflow_tflite.config.benchmark import BenchmarkConfig
from mlflow_tflite.litert import DELEGATES

if TYPE_CHECKING:
    from mlflow_tflite.measure import Measurement

DEFAULT_DELEGATES = tuple(BenchmarkConfig().delegates)
# BenchmarkConfig field -> the option that sets it, for one-line validation errors.
OPTIONS = {
    "delegates": "--delegate",
    "primary_delegate": "--delegate",
    "threads": "--threads",
    "timed_runs": "--runs",
    "warmup_runs": "--warmup",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="a .tflite file, a model directory, or a models:/ or runs:/ URI",
    )
    parser.add_argument(
        "--delegate",
        action="append",
        metavar="NAME",
        dest="delegates",
        help=f"{', '.join(DELEGATES)} or external:/path/lib.so; repeat for "
        "several, the first fills the unprefixed latency metrics "
        f"(default: {' and '.join(DEFAULT_DELEGATES)})",
    )
    parser.add_argument(
        "--threads", type=int, default=1, metavar="N", help="interpreter threads (default: 1)"
    )
    parser.add_argument(
        "--runs", type=int, default=50, metavar="N", help="timed invokes per delegate (default: 50)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=5,
        metavar="N",
        help="untimed invokes before timing (default: 5)",
    )
    parser.add_argument(
        "--no-cold-start",
        action="store_true",
        help="skip cold start and peak memory (fresh processes)",
    )
    parser.add_argument(
        "--log",
        action="store_true",
        help="log the metrics to $MLFLOW_RUN_ID, the active run, or a new run",
    )
    parser.add_argument(
        "--experiment",
        default=None,
        help=f"experiment of a new run (default: $MLFLOW_EXPERIMENT_NAME or {DEFAULT_EXPERIMENT})",
    )
    parser.add_argument(
        "--against",
        metavar="FLOAT.tflite",
        help="the float model MODEL was quantized from: print the per-layer error table",
    )
    parser.add_argument(
        "--inputs",
        metavar="FILE",
        help="samples for --against: .npy, or .npz with x_test or x "
        "(default: seeded uniform samples in [0, 1))",
    )
    parser.add_argument("--json", action="store_true", help="print the measurement as JSON")


def _is_uri(model: str) -> bool:
    return "://" in model or model.startswith(("models:/", "runs:/"))


def _model_file_in(directory: Path) -> Path:
    """The `.tflite` of a model directory: the `tflite` flavor's `data`, sha256-checked."""
    import yaml
    from mlflow.exceptions import MlflowException

    from mlflow_tflite.flavor.loader.load import checked_model_file

    mlmodel = directory / "MLmodel"
    if mlmodel.is_file():
        flavor = (yaml.safe_load(mlmodel.read_text()) or {}).get("flavors", {}).get("tflite")
        if flavor:
            try:
                return checked_model_file(directory, flavor)[0]
            except MlflowException as error:
                raise CommandError(first_line(error)) from None
    found = sorted(directory.rglob("*.tflite"))
    if len(found) != 1:
        raise CommandError(
            f"{directory}: expected a tflite-flavor MLmodel or exactly one .tflite file, "
            f"found {len(found)} .tflite files"
        )
    return found[0]


def resolve_model(model: str, download_dir: str) -> Path:
    """A local `.tflite` path for a file, a model directory or an MLflow model URI.

    Raises:
        CommandError: the path does not exist, the URI cannot be resolved, or the
            directory holds no single `.tflite` model.
    """
    if _is_uri(model):
        import mlflow

        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=model, dst_path=download_dir)
        except Exception as error:  # noqa: BLE001 - any MLflow failure is one line for the user
            raise CommandError(f"{model}: {first_line(error)}") from None
        path = Path(local)
        return _model_file_in(path) if path.is_dir() else path
    path = Path(model)
    if path.is_dir():
        return _model_file_in(path)
    if not path.is_file():
        raise CommandError(f"{model}: no such file")
    return path


def _config(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    delegates = args.delegates or list(DEFAULT_DELEGATES)
    try:
        return BenchmarkConfig(
            delegates=delegates,
            primary_delegate=delegates[0],
            threads=args.threads,
            warmup_runs=args.warmup,
            timed_runs=args.runs,
            cold_start=not args.no_cold_start,
        )
    except ValidationError as error:
        first = error.errors()[0]
        option = OPTIONS.get(str(first["loc"][0]) if first["loc"] else "", "--delegate")
        raise CommandError(f"{option}: {first['msg'].removeprefix('Value error, ')}") from None


def _fmt(value: float | None) -> str:
    # 0.1 microsecond resolution: a tiny model's invoke takes a few microseconds.
    return "-" if value is None else f"{value:.4f}"


def format_report(m: Measurement, model: str) -> str:
    """The latency table per delegate, then the model facts."""
    from tabulate import tabulate

    rows = []
    for name, r in m.latency.items():
        role = "primary" if name == m.delegate else ""
        if r.supported:
            rows.append(
                [
                    name,
                    role,
                    _fmt(r.p50_ms),
                    _fmt(r.p90_ms),
                    _fmt(r.p99_ms),
                    _fmt(r.mean_ms),
                    _fmt(r.std_ms),
                    "",
                ]
            )
        else:
            rows.append([name, "unsupported", "-", "-", "-", "-", "-", r.reason])
    latency = tabulate(
        rows,
        headers=["delegate", "", "p50 ms", "p90 ms", "p99 ms", "mean ms", "std ms", "note"],
        tablefmt="github",
        disable_numparse=True,
    )
    first = next(iter(m.latency.values()))
    inspection = m.inspection
    gpu = {True: "yes", False: "no", None: "unknown"}[inspection.gpu_compatible]
    if inspection.gpu_incompatible_ops:
        gpu += f" ({'; '.join(inspection.gpu_incompatible_ops)})"
    facts = [
        ["model", model],
        ["size", f"{m.size_bytes:,} bytes"],
        ["gzip size", f"{m.gzip_size_bytes:,} bytes"],
        ["sparsity", f"{inspection.sparsity:.1%}"],
        ["unique weight values (max per kernel)", inspection.unique_weight_values],
        [
            "ops",
            f"{inspection.op_count} ("
            + ", ".join(f"{k} {v}" for k, v in inspection.op_histogram.items())
            + ")",
        ],
        ["integer-only", "yes" if inspection.integer_only else "no"],
        ["GPU delegate compatible", gpu],
    ]
    if m.cold_start is not None:
        facts += [
            [
                f"cold start (median of {m.cold_start.runs} fresh processes)",
                f"{m.cold_start.cold_start_ms:.2f} ms",
            ],
            ["peak memory over baseline", f"{m.cold_start.peak_memory_mb:.2f} MB"],
        ]
    if m.primary_fallback_reason:
        facts.append(["primary delegate", f"{m.delegate} ({m.requested_delegate} unsupported)"])
    settings = (
        f"threads={first.threads} warm-up={first.warmup_runs} "
        f"timed runs={first.timed_runs} input={first.input_source}"
    )
    return f"{latency}\n{settings}\n\n{tabulate(facts, tablefmt='plain')}"


def run(args: argparse.Namespace) -> int:
    from mlflow_tflite.cli.against import compare, format_layers
    from mlflow_tflite.measure import MeasureError, measure_variant

    config = _config(args)
    if args.inputs and not args.against:
        raise CommandError("--inputs: only used with --against")
    with tempfile.TemporaryDirectory(prefix="mlflow-tflite-benchmark-") as download_dir:
        path = resolve_model(args.model, download_dir)
        # Before the timing: a wrong --against fails in a second, not after it.
        layers = compare(path, args.against, args.inputs) if args.against else None
        try:
            measurement = measure_variant(path, config=config)
        except (FileNotFoundError, ValueError, MeasureError) as error:
            line = first_line(error)
            raise CommandError(line if str(path) in line else f"{args.model}: {line}") from None
    run_id = (
        log_measurement(measurement, args.model, args.experiment, layers) if args.log else None
    )
    if args.json:
        extra = {"layers": [e.row() for e in layers]} if layers else {}
        report = {**measurement.to_dict(), "metrics": all_metrics(measurement, layers), **extra}
        print(json.dumps({**report, "run_id": run_id}, indent=2, default=str))
    else:
        print(format_report(measurement, args.model))
        if layers:
            print(f"\nagainst {args.against}:\n{format_layers(layers)}")
        if run_id:
            print(f"\nlogged {len(all_metrics(measurement, layers))} metrics to run {run_id}")
    return 0
