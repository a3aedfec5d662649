"""Recovery epochs and block sparsity against plain polynomial pruning, side by side.

    python bench/bench_prune_shapes.py [--params params.yaml] [--output bench/RESULTS.md]

On the default MNIST task: the baseline is trained once (`train` of the params), then each
recipe (prune, then 8 clusters with sparsity preserved, then QAT; int8 in the dense layout,
as the search space builds them) runs from a fresh copy, is converted and measured on the
test split with LiteRT. The columns: the fp32 `.tflite`'s gzip bytes over the variant's
(`measure.size.compression_ratio`), the accuracy change, the p50 latency over fp32's on
the primary delegate, and the sparsity of the converted Dense kernel with the share of its
zeros that lie in runs of at least 4 bytes (what gzip codes cheaply).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mlflow_tflite.cli.console import set_environment  # noqa: E402

# What every command sets before TensorFlow loads: tf_keras for tfmot, quiet C++ logs,
# no telemetry (Prefect's server otherwise prints a traceback offline).
set_environment(verbose=True)

CLUSTER_QAT = {"cluster": {"clusters": 8, "epochs": 2}, "qat": {"epochs": 1}}
RECIPES: dict[str, dict[str, Any]] = {
    "88%, 5 epochs (no recovery)": {"final_sparsity": 0.88, "epochs": 5},
    "92%, 3 epochs + 2 recovery": {"final_sparsity": 0.92, "epochs": 3, "recover_epochs": 2},
    "92%, 3 + 2, blocks 1x4": {"final_sparsity": 0.92, "epochs": 3, "recover_epochs": 2,
                               "block_size": [1, 4]},
    "92%, 3 + 2, blocks 4x1": {"final_sparsity": 0.92, "epochs": 3, "recover_epochs": 2,
                               "block_size": [4, 1]},
    "92%, 3 + 2, blocks 8x1": {"final_sparsity": 0.92, "epochs": 3, "recover_epochs": 2,
                               "block_size": [8, 1]},
    "95%, 3 + 2, blocks 4x1": {"final_sparsity": 0.95, "epochs": 3, "recover_epochs": 2,
                               "block_size": [4, 1]},
}


def zero_runs(values: Any, length: int = 4) -> float:
    """The share of zeros of `values` (flattened as stored) in runs of >= `length`."""
    import numpy as np

    flat = (np.asarray(values).ravel() == 0).astype(np.int8)
    zeros = int(flat.sum())
    if not zeros:
        return 0.0
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flat, [0]))))
    runs = edges[1::2] - edges[::2]
    return float(runs[runs >= length].sum()) / zeros


def dense_kernel(flatbuffer: bytes) -> Any:
    """The largest 2-D int8 tensor of the model: the Dense kernel, as stored ([out, in])."""
    import numpy as np

    from mlflow_tflite.litert import make_interpreter

    interpreter = make_interpreter(flatbuffer, delegate="builtin")
    details = [d for d in interpreter.get_tensor_details()
               if len(d["shape"]) == 2 and d["dtype"] == np.int8]
    largest = max(details, key=lambda d: int(np.prod(d["shape"])))
    return interpreter.get_tensor(largest["index"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument("--output", metavar="FILE", help="append the results as markdown")
    args = parser.parse_args(argv)

    from mlflow_tflite import compress, convert, train
    from mlflow_tflite.config import CompressConfig, ConvertConfig, load_params
    from mlflow_tflite.data import prepare_dataset
    from mlflow_tflite.measure import measure_variant, predict_outputs
    from mlflow_tflite.measure.size import compression_ratio, gzip_size_bytes

    started = time.perf_counter()
    params = load_params(args.params)
    dataset = prepare_dataset(params.data)
    trained = train.train_baseline(dataset, params.train, log=lambda *_: None)
    fp32 = convert.convert_model(trained.model, ConvertConfig(quantization="none"), dataset)
    reference = predict_outputs(fp32, dataset.x_test)
    int8 = ConvertConfig(quantization="int8", io_type="int8", sparsity_optimization=False)
    rows = []
    for label, prune in RECIPES.items():
        began = time.perf_counter()
        cfg = CompressConfig.model_validate({"prune": prune, **CLUSTER_QAT})
        model = compress.compress_model(trained.model, cfg, dataset, params.train,
                                        log=lambda *_: None)
        flatbuffer = convert.convert_model(model, int8, dataset, sparse=False)
        metrics = measure_variant(flatbuffer, dataset.x_test, dataset.y_test,
                                  config=params.benchmark, baseline_accuracy=trained.accuracy,
                                  reference_outputs=reference, fp32_size_bytes=len(fp32),
                                  fp32_model=fp32).metrics()
        dense = dense_kernel(flatbuffer)
        rows.append((label, compression_ratio(gzip_size_bytes(fp32), metrics["gzip_size_bytes"]),
                     metrics["accuracy_delta"],
                     metrics["latency_vs_fp32"], float((dense == 0).mean()), zero_runs(dense),
                     metrics["gzip_size_bytes"], time.perf_counter() - began))
        print(f"{label}: done in {rows[-1][-1]:.0f} s", flush=True)
    lines = ["| prune (then 8 clusters, QAT, int8) | gzip x vs fp32 | gzip bytes | accuracy "
             "| p50 / fp32 | Dense sparsity | zeros in runs >= 4 | build + measure s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for label, ratio, delta, speed, sparsity, runs, gz, took in rows:
        lines.append(f"| {label} | {ratio:.1f}x | {gz:,.0f} | {100 * delta:+.1f} pt | "
                     f"{speed:.2f} | {100 * sparsity:.1f}% | {100 * runs:.0f}% | {took:.0f} |")
    load = os.getloadavg()
    report = (f"\n## Recovery epochs and block sparsity (bench/bench_prune_shapes.py), "
              f"{time.strftime('%Y-%m-%d %H:%M')}\n\n"
              f"`python bench/bench_prune_shapes.py` on {os.cpu_count()} cores (load average "
              f"at the end {load[0]:.1f}), {(time.perf_counter() - started) / 60:.1f} min in "
              f"all; baseline accuracy {trained.accuracy:.4f}, fp32 `.tflite` {len(fp32):,} B."
              f"\n\n" + "\n".join(lines) + "\n")
    print(report)
    if args.output:
        with open(args.output, "a") as handle:
            handle.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
