"""Pruning a MobileNet-class model: the layer policy against pruning every prunable layer.

    python bench/bench_mobilenet.py [--sparsity 0.8] [--epochs 8] [--output bench/RESULTS.md]

One `mlflow-tflite run` (the Prefect flow, MLflow in a temp SQLite store) on the bundled
MNIST with `train.model: mlflow_tflite.train.mobilenet:mobilenet_v2` (BatchNorm,
depthwise convolutions, residual adds), trained once; side by side, all int8:
- `int8` and `qat-int8`, which keep the baseline's accuracy;
- `pruned-all-int8`: every layer tfmot can prune (first conv and small layers too), the
  old default (`layers: {first_conv: true, min_weights: 0}`);
- `pruned-int8`: the default layer policy (no first conv, no layer under 1,024 weights;
  depthwise kernels are never pruned);
- `pruned-auto-int8`: the default policy narrowed by `auto_layers: {max_accuracy_drop:
  --auto-drop}` (0.05: the drop of one layer pruned at once, before any fine-tuning).
Each pruned variant is read back from its `.tflite`: the sparsity over the weights tfmot
can prune (every conv and dense kernel but the depthwise ones) and over the layers it
pruned. Target: a pruned int8 variant within 2 pt of the baseline at >= 50% sparsity of
the prunable weights.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mlflow_tflite.cli.console import set_environment  # noqa: E402

# What every command sets before TensorFlow loads: tf_keras for tfmot, quiet C++ logs,
# no telemetry (Prefect's server otherwise prints a traceback offline).
set_environment(verbose=True)
# As the command does: the embedded Prefect server starts slowly on a busy machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

MODEL = "mlflow_tflite.train.mobilenet:mobilenet_v2"
INT8 = {"quantization": "int8", "io_type": "int8"}
TARGET_DROP = 0.02
TARGET_SPARSITY = 0.5


def params(sparsity: float, epochs: int, prune_epochs: int, auto_drop: float) -> dict[str, Any]:
    prune = {"schedule": "polynomial", "final_sparsity": sparsity, "epochs": prune_epochs}
    return {
        "data": {"source": "mnist", "output_dir": "data/prepared"},
        "train": {"model": MODEL, "epochs": epochs},
        "variants": [
            {"name": "fp32", "convert": {"quantization": "none"}},
            {"name": "int8", "convert": INT8},
            {"name": "qat-int8", "compress": {"qat": {"epochs": 1}}, "convert": INT8},
            {"name": "pruned-all-int8", "convert": INT8, "compress": {"prune": {
                **prune, "layers": {"first_conv": True, "min_weights": 0}}}},
            {"name": "pruned-int8", "convert": INT8, "compress": {"prune": prune}},
            {"name": "pruned-auto-int8", "convert": INT8, "compress": {"prune": {
                **prune, "auto_layers": {"max_accuracy_drop": auto_drop}}}},
        ],
        "benchmark": {"delegates": ["xnnpack", "builtin"], "timed_runs": 20,
                      "cold_start": False},
        "mlflow": {"experiment": "bench-mobilenet", "registered_model_name": "bench-mobilenet"},
        "promote": {"enabled": False},
    }


def kernel_sparsity(tflite_path: str, pruned: set[str]) -> tuple[float, float]:
    """Zeros over the prunable kernels (not depthwise) and over the pruned layers' kernels."""
    from mlflow_tflite.measure.inspect import inspect_model

    counts = {"prunable": [0, 0], "pruned": [0, 0]}
    for weight in inspect_model(tflite_path, gpu=False).weights:
        scopes = weight.name.split(";")[-1].split("/")
        if len(scopes) < 2 or "depthwise" in weight.name:
            continue
        groups = ["prunable", *(["pruned"] if scopes[1] in pruned else [])]
        for group in groups:
            counts[group][0] += weight.zeros
            counts[group][1] += weight.elements
    return tuple(z / n if n else 0.0 for z, n in counts.values())  # type: ignore[return-value]


def rows(result: dict[str, Any], baseline: float) -> list[dict[str, Any]]:
    table = []
    for record in result["variants"]:
        row: dict[str, Any] = {"variant": record["name"]}
        if record["status"] != "ok":
            table.append({**row, "accuracy": f"FAILED: {record['error']}"})
            continue
        metrics = record["metrics"]
        layers = record["measurement"].get("compression", {}).get("prune_layers", [])
        pruned = {layer["name"] for layer in layers if layer["pruned"]}
        prunable, within = kernel_sparsity(record["tflite_path"], pruned)
        table.append({
            **row,
            "accuracy": f"{metrics['accuracy']:.4f}",
            "Δ vs Keras (pt)": f"{100 * (metrics['accuracy'] - baseline):+.1f}",
            "size B": f"{int(metrics['size_bytes']):,}",
            "gzip B": f"{int(metrics['gzip_size_bytes']):,}",
            "sparsity, prunable weights": f"{prunable:.3f}",
            "sparsity, pruned layers": f"{within:.3f}" if pruned else "-",
            "layers pruned": f"{len(pruned)} of {len(layers)}" if layers else "-",
            "meets target": _meets(metrics["accuracy"] - baseline, prunable, pruned),
        })
    return table


def _meets(drop: float, sparsity: float, pruned: set[str]) -> str:
    if not pruned:
        return "-"
    return "yes" if drop >= -TARGET_DROP and sparsity >= TARGET_SPARSITY else "no"


def markdown(table: list[dict[str, Any]]) -> str:
    keys = list(dict.fromkeys(k for row in table for k in row))
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(row.get(k, "")) for k in keys) + " |" for row in table]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sparsity", type=float, default=0.8, help="final_sparsity")
    parser.add_argument("--epochs", type=int, default=8, help="baseline epochs")
    parser.add_argument("--prune-epochs", type=int, default=3)
    parser.add_argument("--auto-drop", type=float, default=0.05,
                        help="auto_layers.max_accuracy_drop of pruned-auto-int8")
    parser.add_argument("--workdir", default=None, help="scratch directory (default: temp)")
    parser.add_argument("--output", metavar="FILE", help="append the results as markdown")
    args = parser.parse_args(argv)
    command = "python bench/bench_mobilenet.py " + " ".join(argv or sys.argv[1:])

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-mobilenet-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
    Path("params.yaml").write_text(yaml.safe_dump(
        params(args.sparsity, args.epochs, args.prune_epochs, args.auto_drop), sort_keys=False))
    load = os.getloadavg()
    started = time.perf_counter()
    from mlflow_tflite_flows.optimize import run_flow

    result = run_flow("params.yaml", cache_dir=str(workdir / "cache"), reports_dir="reports")
    seconds = time.perf_counter() - started
    import mlflow

    baseline = mlflow.MlflowClient().get_run(result["parent_run_id"]).data.metrics[
        "baseline_accuracy"]
    table = rows(result, baseline)
    report = "\n".join([
        f"## Pruning a MobileNet-class model (bench/bench_mobilenet.py), "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command (from the repository root): `.venv/bin/{command.strip()}`",
        "",
        f"- model: `{MODEL}` trained {args.epochs} epochs in the flow on `mnist` "
        f"(3,500 train / 1,000 test); Keras baseline accuracy {baseline:.4f}",
        f"- pruning: polynomial to {args.sparsity:g}, {args.prune_epochs} fine-tune epochs, "
        f"auto_layers.max_accuracy_drop {args.auto_drop:g}; "
        f"target: within {100 * TARGET_DROP:g} pt of the baseline at >= "
        f"{TARGET_SPARSITY:.0%} sparsity of the prunable weights (conv and dense kernels, "
        "depthwise excluded: tfmot prunes none)",
        f"- whole run {seconds:.0f} s on {platform.machine()}, {os.cpu_count()} logical CPUs, "
        f"load average before {load[0]:.2f} (a shared, busy machine)",
        "",
        markdown(table),
        "",
    ])
    print(report)
    if args.output:
        with open(ROOT / args.output if not Path(args.output).is_absolute() else args.output,
                  "a") as out:
            out.write("\n" + report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
