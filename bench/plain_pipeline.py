"""The flow's TensorFlow work as a plain script: no Prefect, no MLflow, no DVC.

    python bench/plain_pipeline.py [--params params.yaml] [--set KEY=VALUE ...]

Prepares the data, trains the baseline, and for every variant compresses, converts and
measures it with the library functions the flow calls (same variants, epochs and
benchmark settings), then prints one line per variant. The yardstick for the flow's
orchestration and tracking overhead in bench/bench_orchestration.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    from mlflow_tflite import compress, convert, train
    from mlflow_tflite.config import ConvertConfig, load_params
    from mlflow_tflite.data import prepare_dataset
    from mlflow_tflite.measure import measure_variant, predict_outputs

    started = time.perf_counter()
    params = load_params(args.params, args.overrides)
    dataset = prepare_dataset(params.data)
    trained = train.train_baseline(dataset, params.train, log=lambda *_: None)
    fp32 = convert.convert_model(trained.model, ConvertConfig(quantization="none"), dataset)
    reference = predict_outputs(fp32, dataset.x_test)
    print(f"[{time.perf_counter() - started:.1f} s] baseline", file=sys.stderr)
    for variant in params.variants:
        model = trained.model  # compress_model works on its own copy
        if variant.compress.steps:
            model = compress.compress_model(model, variant.compress, dataset, params.train)
        sparse = variant.compress.prune is not None and variant.convert.sparsity_optimization
        flatbuffer = convert.convert_model(model, variant.convert, dataset, sparse=sparse)
        measured = measure_variant(
            flatbuffer, dataset.x_test, dataset.y_test, config=params.benchmark,
            baseline_accuracy=trained.accuracy, reference_outputs=reference,
            fp32_size_bytes=len(fp32),
        )
        print(f"{variant.name}: {measured.metrics()['size_bytes']:.0f} B "
              f"accuracy {measured.metrics()['accuracy']:.4f}")
        print(f"[{time.perf_counter() - started:.1f} s] {variant.name}", file=sys.stderr)


if __name__ == "__main__":
    main()
