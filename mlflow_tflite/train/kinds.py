"""What kind of baseline `train.model` names, told apart without importing TensorFlow.

- `tf_keras`: `builtin`, a tf_keras (Keras 2) `.keras`/`.h5`/SavedModel, or a
  `module:function` builder; every technique and scheme applies (which technique applies
  to which kind: each technique's `needs`, read through `NEEDS_KINDS`).
- `keras3`: a `.keras` file saved by Keras 3 (its `metadata.json` says `keras_version`
  3.x); converted through a SavedModel; the techniques get its tf_keras twin
  (`train.bridge`), checked once the baseline is trained (a model without an exact twin
  has them skipped then: `support.twin_skips`).
- `saved_model`: a generic TensorFlow SavedModel directory (`tf.saved_model.save`, no
  `keras_metadata.pb`): converted from its serving signature, used as is; no TFMOT
  technique applies.
- `tflite`: a float `.tflite` file from any converter; only the schemes that start from a
  float `.tflite` apply, and `none` is the file itself.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

TF_KERAS = "tf_keras"
KERAS3 = "keras3"
SAVED_MODEL = "saved_model"
TFLITE = "tflite"
KINDS = (TF_KERAS, KERAS3, SAVED_MODEL, TFLITE)

# How a refusal names the baseline: "...; train.model is a .tflite file".
DESCRIPTIONS = {
    TF_KERAS: "a tf_keras model",
    KERAS3: "a Keras 3 .keras file",
    SAVED_MODEL: "a TensorFlow SavedModel",
    TFLITE: "a .tflite file",
}
# What a technique needs (`Technique.needs`) -> the baseline kinds whose compress step
# gives it that, and how a refusal says what it needs. The pipeline hands techniques a
# tf_keras model: a tf_keras baseline itself, or a Keras 3 baseline's verified tf_keras
# twin (`train.bridge`; a Keras 3 model without one has its techniques skipped once it is
# trained, `support.twin_skips`).
NEEDS_KINDS = {"tf_keras": (TF_KERAS, KERAS3), "keras": (TF_KERAS, KERAS3)}
NEEDS_DESCRIPTIONS = {"tf_keras": "a tf_keras model", "keras": "a Keras model"}
TFLITE_SUFFIX = ".tflite"
# Bytes 4..8 of every TFLite flatbuffer (the file identifier).
_TFLITE_IDENTIFIER = b"TFL3"
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
# What tf_keras writes beside a SavedModel's graph: a Keras model, loaded with tf_keras.
KERAS_METADATA_FILE = "keras_metadata.pb"


def baseline_kind(spec: str) -> str:
    """The kind of baseline `train.model` names: `tf_keras`, `keras3`, `saved_model` or
    `tflite`.

    A path that does not exist (or a builder, or `builtin`) is `tf_keras`: building or
    loading it reports its own error later.

    Raises:
        ValueError: a `.tflite` path that is not a TFLite flatbuffer.
    """
    path = Path(spec).expanduser()
    if path.suffix == TFLITE_SUFFIX and path.is_file():
        with path.open("rb") as handle:
            head = handle.read(8)
        if head[4:8] != _TFLITE_IDENTIFIER:
            raise ValueError(f"{spec}: not a TFLite flatbuffer (no TFL3 identifier)")
        return TFLITE
    if path.suffix == ".keras" and path.is_file() and keras_major_version(path) == 3:
        return KERAS3
    if is_generic_saved_model(path):
        return SAVED_MODEL
    return TF_KERAS


def is_generic_saved_model(path: Path) -> bool:
    """Whether `path` is a SavedModel directory that tf_keras did not write (no
    `keras_metadata.pb`): `tf.saved_model.save`, a Keras 3 `model.export`, ..."""
    return (path.is_dir() and any((path / name).is_file() for name in SAVED_MODEL_FILES)
            and not (path / KERAS_METADATA_FILE).is_file())


def keras_major_version(path: Path) -> int | None:
    """The major Keras version a `.keras` zip was saved with (`metadata.json`), else None."""
    try:
        with zipfile.ZipFile(path) as archive:
            metadata = json.loads(archive.read("metadata.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    version = str(metadata.get("keras_version", ""))
    major = version.partition(".")[0]
    return int(major) if major.isdigit() else None


def technique_refusal(kind: str, technique: str) -> str | None:
    """Why `technique` (a `compress` step) cannot run on a `kind` baseline, else None: the
    kinds its declared `needs` accepts (`NEEDS_KINDS`)."""
    from mlflow_tflite.plugins.technique import get_technique

    declared = get_technique(technique)
    if kind in NEEDS_KINDS[declared.needs]:
        return None
    return (f"{declared.noun} needs {NEEDS_DESCRIPTIONS[declared.needs]}; train.model is "
            f"{DESCRIPTIONS[kind]}")


def twin_refusal(technique: str, problem: str) -> str:
    """Why `technique` is skipped for a Keras 3 baseline without an exact tf_keras twin."""
    from mlflow_tflite.plugins.technique import get_technique

    return (f"{get_technique(technique).noun} needs a tf_keras twin of the Keras 3 model, "
            f"which has none: {problem}")


def scheme_refusal(kind: str, scheme: str, needs_keras_model: bool) -> str | None:
    """Why `convert.quantization: scheme` cannot run on a `kind` baseline, else None.

    `none` on a `.tflite` baseline is the file itself; every other scheme that needs a
    Keras model (the TFLite converter's) cannot start from a `.tflite`.
    """
    if kind != TFLITE or scheme == "none" or not needs_keras_model:
        return None
    return (
        f"{scheme} needs a Keras model (the TFLite converter); train.model is "
        f"{DESCRIPTIONS[kind]}: use none or an ai-edge-quantizer scheme"
    )


def describe_baseline(kind: str, accuracy: float | None, reused: bool, trained: bool,
                      quantization: str = "none") -> str:
    """One line on the baseline for the flow's log, e.g. `Keras test accuracy 0.9610
    (trained)` or `.tflite file, no accuracy (...): variants are judged by fidelity to the
    float model (used as is)`; `trained` is whether any epoch ran. A quantized `.tflite`
    baseline is named by its scheme, with what remains possible (`quantized_baseline_note`)."""
    name = {TF_KERAS: "Keras", KERAS3: "Keras 3 model,", SAVED_MODEL: "SavedModel,",
            TFLITE: ".tflite file," if quantization == "none"
            else f"{quantization}-quantized .tflite file,"}[kind]
    if kind == TF_KERAS and accuracy is None:
        name = "tf_keras model,"  # on unlabelled inputs (data.source: synthetic)
    state = "reused" if reused else ("trained" if trained else "used as is")
    quality = (f"test accuracy {accuracy:.4f}" if accuracy is not None
               else "no accuracy (outputs are not class scores of labelled data): variants "
               "are judged by fidelity to the float model")
    line = f"{name} {quality} ({state})"
    return line if quantization == "none" else f"{line}; {quantized_baseline_note(quantization)}"


def quantized_baseline_note(quantization: str) -> str:
    """What a user of an already quantized `.tflite` baseline can still gain, and why the
    converter's schemes are out of reach."""
    return (f"already quantized ({quantization}): size ratios are against this file; "
            "ai-edge-quantizer can still quantize the weights it left in float "
            "(int4_weight_only, int4_blockwise), convert.keep_float choosing ops to leave "
            "in float; the converter's schemes (dynamic, int8, int16x8, float16), and lower "
            "precision for the weights already quantized, need the float source model")
