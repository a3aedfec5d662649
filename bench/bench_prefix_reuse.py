"""Wall time of one variant's build with and without its first steps in the artifact store.

    python bench/bench_prefix_reuse.py                            # pruned-clustered-int8
    python bench/bench_prefix_reuse.py --variant pcqat-int8 --repeats 3

Prepares the params' data and trains its baseline once (into a scratch store), then times
`pipeline.steps.build` of the variant (compress + convert, in this process) `--repeats`
times in each of two stores holding that baseline: a cold one (nothing else stored; every
step trains) and a warm one where the variant with the same first steps minus the last was
built before (e.g. `pruned-int8` before `pruned-clustered-int8`: the prune step is stored).
An untimed build comes first (TensorFlow's first tracing in the process). Prints one line
per build and the medians.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mlflow_tflite.cli.console import set_environment  # noqa: E402

# What every command sets before TensorFlow loads: tf_keras for tfmot, quiet C++ logs,
# no telemetry (Prefect's server otherwise prints a traceback offline).
set_environment(verbose=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument("--variant", default="pruned-clustered-int8")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from mlflow_tflite import checks
    from mlflow_tflite.config import CompressConfig
    from mlflow_tflite.pipeline import ArtifactStore, keys, steps

    params = checks.load_checked_params(args.params)
    variant = next(v for v in params.variants if v.name == args.variant)
    first = variant.compress.steps[:-1]
    if not first:
        raise SystemExit(f"{args.variant} has one compression step: no prefix to reuse")
    prefix = variant.model_copy(update={
        "name": "prefix",
        "compress": CompressConfig(**{s: getattr(variant.compress, s) for s in first}),
    })
    scratch = Path(tempfile.mkdtemp(prefix="prefix-bench-"))
    try:
        params = params.model_copy(update={"data": params.data.model_copy(
            update={"output_dir": str(scratch / "prepared")})})
        base_store = ArtifactStore(scratch / "base")
        data = steps.prepare(params, base_store)
        baseline = steps.train_baseline(params, data, base_store)
        key = keys.build_key(baseline.key, variant)
        # One untimed build first: the process's first fine-tune and conversion pay for
        # TensorFlow's tracing, which would land on whichever mode ran first.
        shutil.copytree(base_store.root, scratch / "warm-up")
        steps.build(variant, params, baseline, data, ArtifactStore(scratch / "warm-up"), key)
        times: dict[str, list[float]] = {"cold": [], "warm": []}
        for repeat in range(args.repeats):
            for mode in times:
                root = scratch / f"{mode}-{repeat}"
                shutil.copytree(base_store.root, root)
                store = ArtifactStore(root)
                if mode == "warm":
                    steps.build(prefix, params, baseline, data, store,
                                keys.build_key(baseline.key, prefix))
                started = time.perf_counter()
                steps.build(variant, params, baseline, data, store, key)
                times[mode].append(time.perf_counter() - started)
                print(f"{mode} build {repeat + 1}: {times[mode][-1]:.1f} s", flush=True)
        cold, warm = (statistics.median(times[m]) for m in ("cold", "warm"))
        print(f"{args.variant}: cold {cold:.1f} s, with {'+'.join(first)} stored "
              f"{warm:.1f} s (median of {args.repeats}; {cold / warm:.2f}x)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
