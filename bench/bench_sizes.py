"""How the cost of `run` and of the per-layer analysis grows with the model's size.

    python bench/bench_sizes.py                         # all three sizes
    python bench/bench_sizes.py --models cnn,mobilenet --keep /tmp/sizes

Three float `.tflite` models, built here (weights=None, no download):
- `cnn`: the bundled CNN (`train.model: builtin`) for 28x28x1 MNIST digits, untrained;
- `mobilenet`: tf_keras MobileNet, alpha 0.25, 128x128x3;
- `mobilenetv2`: tf_keras MobileNetV2, alpha 1.0, 224x224x3 (logits out, so the output
  SNR says something about an untrained model; a softmax over 1,000 near-equal logits
  rounds to the same float32 values under every scheme).
For each: `mlflow-tflite run` with the four ai-edge-quantizer variants and synthetic
data (a fresh directory: no cache), then `mlflow-tflite benchmark W8 --against FLOAT`
(the per-layer analysis on 256 seeded random samples, plus the latency of W8), and the
analysis alone (`layer_errors` in a fresh process). Wall time and peak RSS of each come
from the child's rusage: the largest single process (the `run` parent, not the Prefect
server it starts), measured in a fresh wrapper process each time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODELS = ("cnn", "mobilenet", "mobilenetv2")
SCHEMES = ("int8_weight_only", "int4_weight_only", "int4_dynamic", "int4_blockwise")
ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
       "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DVC_NO_ANALYTICS": "1",
       "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}

# Runs a command and prints its wall time and the peak RSS of its largest process.
WRAPPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"code": code, "seconds": time.perf_counter() - start, "peak_mb": peak}))
"""

ANALYSIS = """
import sys, numpy as np
from mlflow_tflite.litert import TFLiteRunner
from mlflow_tflite.measure.layers import DEFAULT_MAX_SAMPLES, layer_errors, summary_metrics
shape = TFLiteRunner(sys.argv[1], delegate="builtin").inputs[0].shape[1:]
x = np.random.default_rng(0).random((DEFAULT_MAX_SAMPLES, *shape), dtype=np.float32)
print(summary_metrics(layer_errors(sys.argv[1], sys.argv[2], x)))
"""


def build(name: str, directory: Path) -> Path:
    """The float `.tflite` of one size, and its int8 weight-only variant beside it."""
    import tf_keras

    from mlflow_tflite.config import ConvertConfig
    from mlflow_tflite.convert import convert_model, convert_variant
    from mlflow_tflite.train import build_baseline_model

    if name == "cnn":
        model = build_baseline_model("builtin", (28, 28, 1), 10)
    elif name == "mobilenet":
        model = tf_keras.applications.MobileNet(weights=None, alpha=0.25,
                                                input_shape=(128, 128, 3))
    else:
        model = tf_keras.applications.MobileNetV2(weights=None, alpha=1.0,
                                                  input_shape=(224, 224, 3),
                                                  classifier_activation=None)
    path = directory / f"{name}.tflite"
    path.write_bytes(convert_model(model, ConvertConfig(quantization="none"), None))
    w8 = convert_variant(path.read_bytes(), ConvertConfig(quantization="int8_weight_only"))
    path.with_name(f"{name}_w8.tflite").write_bytes(w8.flatbuffer)
    return path


def measure(command: list[str], cwd: Path) -> dict[str, float]:
    """Wall seconds and peak MB of `command` (non-zero exit: an error)."""
    env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", WRAPPER, *command], cwd=cwd, env=env,
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["code"]:
        raise RuntimeError(f"{' '.join(command)} exited {result['code']}")
    return result


def run_params(model: Path, directory: Path) -> Path:
    import yaml

    params = {
        "data": {"source": "synthetic", "seed": 0},
        "train": {"model": str(model)},
        "benchmark": {"delegates": ["xnnpack"], "warmup_runs": 1, "timed_runs": 5,
                      "cold_start": False},
        "mlflow": {"experiment": "sizes", "registered_model_name": "sizes"},
        "variants": [{"name": s, "convert": {"quantization": s}} for s in SCHEMES],
    }
    path = directory / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--keep", help="build and run in this directory (kept)")
    args = parser.parse_args(argv)
    for key, value in ENV.items():
        os.environ.setdefault(key, value)
    root = Path(args.keep or tempfile.mkdtemp(prefix="bench_sizes_"))
    cli = str(BIN / "mlflow-tflite")
    rows = []
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"load before {os.getloadavg()[0]:.1f}")
    for name in args.models.split(","):
        directory = root / name
        directory.mkdir(parents=True, exist_ok=True)
        model = build(name, directory)
        w8 = model.with_name(f"{name}_w8.tflite")
        against = measure([cli, "benchmark", str(w8), "--against", str(model), "--runs", "5",
                           "--warmup", "1", "--no-cold-start"], directory)
        alone = measure([sys.executable, "-c", ANALYSIS, str(model), str(w8)], directory)
        flow = measure([cli, "run", "--params", str(run_params(model, directory))], directory)
        rows.append([name, f"{model.stat().st_size / 2**20:.2f}",
                     f"{flow['seconds']:.0f}", f"{flow['peak_mb']:,.0f}",
                     f"{against['seconds']:.1f}", f"{against['peak_mb']:,.0f}",
                     f"{alone['seconds']:.1f}", f"{alone['peak_mb']:,.0f}",
                     f"{os.getloadavg()[0]:.1f}"])
        print(" | ".join(rows[-1]), flush=True)
    from tabulate import tabulate

    headers = ["model", "float MB", "run s", "run peak MB", "--against s",
               "--against peak MB", "analysis s", "analysis peak MB", "load after"]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
