"""What the flow's steps hand each other: small, picklable handles into the artifact store
and the file names inside its entries.

Any task runner can ship these to another process; the data and models stay on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlflow_tflite.train.kinds import TF_KERAS

MODEL_FILE = "model.tflite"
# Set on an exception from `build`: which of its steps raised it (survives pickling).
STEP_ATTRIBUTE = "mlflow_tflite_step"
BASELINE_FILE = "baseline.weights.h5"
REFERENCE_FILE = "reference_outputs.npy"
# How a build was quantized (scheme, recipe, ops kept float): see `Conversion.metadata`.
CONVERSION_FILE = "conversion.json"
# What the compression steps decided (e.g. `prune_layers`), when a step reports anything.
COMPRESSION_FILE = "compression.json"
# Bytes the ops kept in float cost over quantizing them too (variants with keep_float).
KEEP_FLOAT_METRIC = "keep_float_size_bytes"
# The baseline's float `.tflite`: what every variant is measured against (layer by layer
# too), and what the `none` variant of a `.tflite` baseline and the ai-edge-quantizer
# schemes start from.
FP32_FILE = "fp32.tflite"
# A Keras 3 baseline's export, which every TFLite converter scheme reads.
SAVED_MODEL_DIR = "saved_model"
# A Keras 3 baseline's tf_keras twin (`train.bridge`): architecture and weights, what the
# TFMOT techniques start from.
TWIN_CONFIG_FILE = "twin.json"
TWIN_WEIGHTS_FILE = "twin.weights.h5"

@dataclass(frozen=True)
class PreparedData:
    """The prepared dataset on disk and its content version."""

    directory: str
    version: str
    source: str
    reused: bool


@dataclass(frozen=True)
class Baseline:
    """The baseline in the store, its accuracy and the fp32 reference.

    `kind` is `tf_keras`, `keras3`, `saved_model` or `tflite` (see
    `mlflow_tflite.train.kinds`);
    `accuracy` is None and `class_scores` False when the outputs are not class scores of
    labelled data (a detector, a landmark model, synthetic inputs): the variants are then
    judged by fidelity to the float model only.
    """

    key: str
    directory: str
    accuracy: float | None
    fp32_size_bytes: int
    history: dict[str, list[float]]
    reused: bool
    kind: str = TF_KERAS
    class_scores: bool = True
    # The fp32 model's ops (`ModelOp` fields): what `convert.keep_float` is checked on.
    float_ops: tuple[dict[str, Any], ...] = ()
    # The scheme the baseline's own `.tflite` is quantized with (the flavor's
    # `infer_quantization`): `none` unless a quantized `.tflite` is the baseline.
    quantization: str = "none"
    # Accuracy of the fp32 `.tflite` on the validation split, measured once when no
    # training curve gives it (`train.epochs: 0`, a file used as is): the search pruner's
    # reference. None without labels, class scores or a validation split.
    val_accuracy: float | None = None
    # A Keras 3 baseline's tf_keras twin: one line on it (`Twin.describe`), and why the
    # TFMOT techniques cannot use it (None when they can).
    twin: str | None = None
    twin_problem: str | None = None

    @property
    def model_path(self) -> Path:
        return Path(self.directory) / BASELINE_FILE

    @property
    def saved_model_path(self) -> Path:
        return Path(self.directory) / SAVED_MODEL_DIR

    @property
    def reference_path(self) -> Path:
        return Path(self.directory) / REFERENCE_FILE

    @property
    def fp32_path(self) -> Path:
        return Path(self.directory) / FP32_FILE


@dataclass(frozen=True)
class Build:
    """A converted variant in the store."""

    key: str
    tflite_path: str


@lru_cache(maxsize=2)
def load_prepared(directory: str, version: str) -> Any:
    """The prepared dataset, read (and hash-checked) once per process and version: a step
    process's steps each read it."""
    from mlflow_tflite.data import load_dataset

    dataset = load_dataset(directory)
    if dataset.version != version:
        raise ValueError(f"{directory}: holds data version {dataset.version}, expected {version}")
    return dataset


def prepared_meta(data: PreparedData) -> dict[str, Any]:
    """`dataset.json` of the prepared dataset (class names, normalization, absent classes),
    no array read: the flow's own process describes the data from it."""
    from mlflow_tflite.data.dataset import read_meta

    meta = read_meta(data.directory)
    if meta.get("version") != data.version:
        raise ValueError(f"{data.directory}: holds data version {meta.get('version')}, "
                         f"expected {data.version}")
    return meta


def prepared_arrays(data: PreparedData, *names: str) -> dict[str, Any]:
    """Only the named arrays of the prepared dataset (the prepare step checked their
    content): the flow's own process reads what it logs and lets it go, so the run's peak
    memory does not hold every split there, nor the whole file once per reader."""
    from mlflow_tflite.data.dataset import read_arrays

    prepared_meta(data)
    return read_arrays(data.directory, *names)


def data_line(data: PreparedData) -> str:
    """How the prepared inputs were scaled and which classes have no example, for the
    data step's console line: `scale [0, 1]: pixels / 255 (auto for a bundled dataset);
    10 classes`."""
    meta = prepared_meta(data)
    rule = meta.get("normalization", {}).get("rule", "as stored")
    line = f"scale {rule}"
    if meta.get("class_names"):
        absent = meta.get("absent_classes", [])
        line += f"; {len(meta['class_names'])} classes"
        if absent:
            shown = ", ".join(absent[:8]) + (", ..." if len(absent) > 8 else "")
            line += f" ({len(absent)} with no example: {shown})"
    return line
