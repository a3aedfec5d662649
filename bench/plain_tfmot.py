"""The plain TFMOT script a user would write, for the headline bench's row (a).

    python bench/plain_tfmot.py --weights baseline.weights.h5 --data dataset.npz \
        [--sparsity 0.5] [--output results.json]

No mlflow_tflite: tf_keras, tfmot, the TFLite converter and LiteRT, as TFMOT's own
guides use them, on the baseline a `mlflow-tflite run` trained (its weights and its
prepared dataset), so both start from the same model and split. It prunes once and
branches, as a user comparing two recipes would:
- `pqat`: prune to `--sparsity` with `PolynomialDecay` over 2 epochs (the pruning guide's
  `UpdatePruningStep`), strip, then sparsity-preserving QAT (`quantize_apply` with
  `Default8BitPrunePreserveQuantizeScheme`, the collaborative-optimization guide) for 1
  epoch; int8 conversion (int8 inputs and outputs).
- `prune-cluster`: the same pruned model, then sparsity-preserving clustering (8 clusters,
  k-means++, 1 epoch at 1e-5 as the clustering guide fine-tunes), strip, int8 PTQ with a
  representative dataset.
Prints (and writes) one JSON object per recipe: gzip bytes, test accuracy, XNNPACK p50
latency; and the whole script's seconds.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402
import tf_keras as keras  # noqa: E402

BATCH = 64
PRUNE_EPOCHS = 2
FINE_TUNE_EPOCHS = 1
CLUSTERS = 8
ALPHA = 0.35


def baseline(weights: str, shape: tuple[int, ...], classes: int) -> keras.Model:
    """The flow's baseline: Keras' MobileNetV2 with the trained weights."""
    model = keras.applications.MobileNetV2(input_shape=shape, alpha=ALPHA, weights=None,
                                           classes=classes, classifier_activation=None)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    model.load_weights(weights)
    return model


def fit(model: keras.Model, data: dict[str, np.ndarray], epochs: int, rate: float,
        callbacks: list[keras.callbacks.Callback] | None = None) -> None:
    model.compile(optimizer=keras.optimizers.Adam(rate), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data["x_train"], data["y_train"], batch_size=BATCH, epochs=epochs,
              validation_data=(data["x_val"], data["y_val"]), callbacks=callbacks or [],
              verbose=2)


def prune(model: keras.Model, data: dict[str, np.ndarray], sparsity: float) -> keras.Model:
    steps = int(np.ceil(len(data["x_train"]) / BATCH)) * PRUNE_EPOCHS
    schedule = tfmot.sparsity.keras.PolynomialDecay(0.0, sparsity, 0, steps)
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
    fit(pruned, data, PRUNE_EPOCHS, 1e-3, [tfmot.sparsity.keras.UpdatePruningStep()])
    return tfmot.sparsity.keras.strip_pruning(pruned)


def pqat(model: keras.Model, data: dict[str, np.ndarray]) -> keras.Model:
    annotated = tfmot.quantization.keras.quantize_annotate_model(model)
    quantized = tfmot.quantization.keras.quantize_apply(
        annotated, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
    fit(quantized, data, FINE_TUNE_EPOCHS, 1e-4)
    return quantized


def cluster(model: keras.Model, data: dict[str, np.ndarray]) -> keras.Model:
    api = tfmot.clustering.keras
    clustered = api.cluster_weights(
        model, number_of_clusters=CLUSTERS, preserve_sparsity=True,
        cluster_centroids_init=api.CentroidInitialization.KMEANS_PLUS_PLUS)
    fit(clustered, data, FINE_TUNE_EPOCHS, 1e-5)
    return api.strip_clustering(clustered)


def int8(model: keras.Model, data: dict[str, np.ndarray]) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    samples = data["x_train"][:100]
    converter.representative_dataset = lambda: ([sample[None]] for sample in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    return converter.convert()


def measure(flatbuffer: bytes, data: dict[str, np.ndarray], runs: int = 50
            ) -> tuple[float, float]:
    """Test accuracy and XNNPACK p50 latency (ms, one thread) of an int8-io model."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer, num_threads=1)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero = inp["quantization"]
    correct = 0
    for image, label in zip(data["x_test"], data["y_test"], strict=True):
        quantized = np.clip(np.round(image / scale + zero), -128, 127).astype(np.int8)
        interpreter.set_tensor(inp["index"], quantized[None])
        interpreter.invoke()
        correct += int(np.argmax(interpreter.get_tensor(out["index"])[0]) == label)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        interpreter.invoke()
        timings.append((time.perf_counter() - started) * 1000)
    return correct / len(data["y_test"]), statistics.median(timings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--output")
    args = parser.parse_args()
    started = time.perf_counter()
    with np.load(args.data) as npz:
        data = {name: npz[name] for name in npz.files}
    keras.utils.set_random_seed(42)
    model = baseline(args.weights, data["x_train"].shape[1:], int(data["y_train"].max()) + 1)
    pruned = prune(model, data, args.sparsity)
    results = {}
    for recipe, finish in (("pqat", pqat), ("prune-cluster", cluster)):
        copy = keras.models.clone_model(pruned)
        copy.set_weights(pruned.get_weights())
        flatbuffer = int8(finish(copy, data), data)
        accuracy, latency = measure(flatbuffer, data)
        results[recipe] = {"sparsity": args.sparsity, "size_bytes": len(flatbuffer),
                           "gzip_size_bytes": len(gzip.compress(flatbuffer)),
                           "accuracy": accuracy, "latency_p50_ms": latency}
    results["seconds"] = time.perf_counter() - started
    print(json.dumps(results))
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(results, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
