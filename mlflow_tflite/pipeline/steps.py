"""The steps of the optimization flow as plain functions over the artifact store.

Each step reads its inputs from, and writes its output to, the ArtifactStore, and passes
on small, picklable handles (keys and paths), so any task runner can ship them to another
process. The compressed Keras model that `compress` hands to `convert` stays in memory (a
QAT-wrapped model survives neither pickling nor a file round trip without tfmot's custom
objects), so `build` runs both in one process. Measuring a build is
`pipeline/measuring.py`. `flows/optimize.py` wraps the steps in tasks; `mlflow-tflite run
--only prepare` (the DVC `prepare` stage) calls `prepare`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from mlflow_tflite.config import ConvertConfig, Params, VariantConfig
from mlflow_tflite.pipeline.cache import ArtifactStore
from mlflow_tflite.pipeline.handles import (
    BASELINE_FILE,
    COMPRESSION_FILE,
    CONVERSION_FILE,
    FP32_FILE,
    MODEL_FILE,
    REFERENCE_FILE,
    SAVED_MODEL_DIR,
    STEP_ATTRIBUTE,
    TWIN_CONFIG_FILE,
    TWIN_WEIGHTS_FILE,
    Baseline,
    Build,
    PreparedData,
    load_prepared,
)
from mlflow_tflite.pipeline.keys import baseline_key, prepare_key, prepared_version
from mlflow_tflite.plugins.technique import get_technique
from mlflow_tflite.train.kinds import KERAS3, SAVED_MODEL, TF_KERAS, TFLITE, baseline_kind

# How the baseline's fp32 file is converted; a variant with this recipe and no step is it.
FP32_CONVERSION = ConvertConfig(quantization="none")


def prepare(params: Params, store: ArtifactStore) -> PreparedData:
    """Prepare the dataset into `data.output_dir`, or reuse it when already prepared.

    The prepared directory is reused when the store remembers preparing it from the same
    `data` section, source content and code, and it still hashes to the recorded version.
    """
    from mlflow_tflite.data import prepare_dataset, save_dataset

    directory = Path(params.data.output_dir)
    key = prepare_key(params)  # hashes a file or folder source: once per call
    if (version := prepared_version(params, store, key)) is not None:
        return PreparedData(str(directory), version, params.data.source, reused=True)
    dataset = _prepared_dataset(params, prepare_dataset)
    save_dataset(dataset, directory)
    meta = {"version": dataset.version, "directory": str(directory)}
    with store.put("prepare", key, meta):
        pass
    return PreparedData(str(directory), dataset.version, params.data.source, reused=False)


def _prepared_dataset(params: Params, prepare_dataset: Any) -> Any:
    """The `data` section's dataset; synthetic inputs are shaped as `train.model`'s inputs
    (every input of a Keras 3 model, a SavedModel or a `.tflite`, the one input of a
    tf_keras model file, with its shape and dtype)."""
    from mlflow_tflite.data.synthetic import SYNTHETIC, synthetic_inputs

    if params.data.source != SYNTHETIC:
        from mlflow_tflite.train.facts import model_facts

        return prepare_dataset(params.data,
                               model_facts(params.train.model, params.train.trust_model_code))
    from mlflow_tflite.train import keras3, saved_model, tflite_baseline

    spec = params.train.model
    kind = baseline_kind(spec)
    if kind == SAVED_MODEL:
        return synthetic_inputs(saved_model.signature_inputs(spec), params.data)
    if kind == TFLITE:
        from mlflow_tflite.train.facts import model_facts

        facts = model_facts(spec)
        return synthetic_inputs(tflite_baseline.tflite_inputs(spec), params.data,
                                facts.normalization if facts else None)
    if kind == TF_KERAS:
        from mlflow_tflite.train.baseline import file_input_specs

        return synthetic_inputs(file_input_specs(spec, params.train.trust_model_code),
                                params.data)
    model = keras3.load_keras3(spec, params.train.trust_model_code)
    return synthetic_inputs(keras3.input_specs(model), params.data)


def train_baseline(params: Params, data: PreparedData, store: ArtifactStore) -> Baseline:
    """Train the baseline (or reuse the stored one); store its float `.tflite` and the
    reference outputs of that float model on the test split.

    A tf_keras baseline is trained with tf_keras; a Keras 3 one is fine-tuned with Keras 3
    (`train.epochs: 0` takes it as is) and exported as a SavedModel; a generic SavedModel
    is converted from its serving signature and a `.tflite` one used as is (neither
    trains: `train.epochs` does not apply).
    """
    key = baseline_key(params, data.version)
    if (entry := store.get("baseline", key)) is not None:
        meta = store.meta("baseline", key)
        return Baseline(key, str(entry), meta["accuracy"], meta["fp32_size_bytes"],
                        meta.get("history", {}), reused=True, kind=meta.get("kind", TF_KERAS),
                        class_scores=meta.get("class_scores", True),
                        float_ops=tuple(meta.get("float_ops", ())),
                        quantization=meta.get("quantization", "none"),
                        val_accuracy=meta.get("val_accuracy"),
                        twin=meta.get("twin"), twin_problem=meta.get("twin_problem"))

    from mlflow_tflite import convert, measure, train
    from mlflow_tflite.convert.facts import model_ops
    from mlflow_tflite.train import keras3, saved_model, tflite_baseline

    kind = baseline_kind(params.train.model)
    dataset = load_prepared(data.directory, data.version)
    meta: dict[str, Any] = {"data_version": data.version, "kind": kind}
    with store.put("baseline", key, meta) as tmp:
        if kind in (TFLITE, SAVED_MODEL):
            loaded = (tflite_baseline.load_tflite_baseline(params.train.model, dataset)
                      if kind == TFLITE else
                      saved_model.load_saved_model_baseline(params.train.model, dataset))
            fp32, accuracy, history = loaded.flatbuffer, loaded.accuracy, {}
        else:
            trained = (keras3.fine_tune(params.train.model, dataset, params.train)
                       if kind == KERAS3 else train.train_baseline(dataset, params.train))
            source: Any = trained.model
            if kind == KERAS3:
                source = str(keras3.export_saved_model(trained.model, tmp / SAVED_MODEL_DIR))
                meta.update(_store_twin(trained.model, dataset, tmp))
            else:
                trained.model.save_weights(tmp / BASELINE_FILE)
            fp32 = convert.convert_model(source, FP32_CONVERSION, dataset)
            accuracy, history = trained.accuracy, trained.history
        float_ops = tuple(dataclasses.asdict(op) for op in model_ops(fp32))
        quantization = baseline_quantization(fp32) if kind == TFLITE else "none"
        val_accuracy = (None if history.get("val_accuracy") or accuracy is None
                        else _val_accuracy(fp32, dataset))
        (tmp / FP32_FILE).write_bytes(fp32)
        np.save(tmp / REFERENCE_FILE, measure.reference_outputs(fp32, dataset.x_test))
        meta.update(accuracy=accuracy, fp32_size_bytes=len(fp32), history=history,
                    class_scores=accuracy is not None, float_ops=list(float_ops),
                    quantization=quantization, val_accuracy=val_accuracy)
    return Baseline(key, str(store.path("baseline", key)), accuracy, len(fp32), history,
                    reused=False, kind=kind, class_scores=accuracy is not None,
                    float_ops=float_ops, quantization=quantization, val_accuracy=val_accuracy,
                    twin=meta.get("twin"), twin_problem=meta.get("twin_problem"))


def _store_twin(model: Any, dataset: Any, directory: Path) -> dict[str, Any]:
    """Carry the Keras 3 `model` over to tf_keras, checked on the test inputs, and store
    the twin in `directory` when it is exact; returns the baseline meta that says so."""
    from mlflow_tflite.train.bridge import carry_over

    twin = carry_over(model, dataset.x_test)
    if twin.ok:
        (directory / TWIN_CONFIG_FILE).write_text(twin.model.to_json())
        twin.model.save_weights(directory / TWIN_WEIGHTS_FILE)
    print(f"baseline: Keras 3 model, {twin.describe()}")
    return {"twin": twin.describe(), "twin_problem": twin.problem,
            "twin_max_abs_diff": twin.max_abs_diff}


def _val_accuracy(fp32: bytes, dataset: Any) -> float | None:
    """The float model's top-1 accuracy on the validation split (None when it is empty)."""
    from mlflow_tflite.measure import predict_outputs

    if not len(dataset.y_val):
        return None
    scores = predict_outputs(fp32, dataset.x_val)
    return float(np.mean(np.argmax(scores, axis=-1) == dataset.y_val))


def baseline_quantization(flatbuffer: bytes) -> str:
    """The scheme a baseline `.tflite` is already quantized with, as the flavor names it
    (`none` for a float model)."""
    from mlflow_tflite.flavor.spec import infer_quantization

    return infer_quantization(flatbuffer)


def load_baseline_model(baseline: Baseline, params: Params, data: PreparedData) -> Any:
    """A fresh, compiled Keras copy of the stored baseline: every variant starts from its own
    (tfmot wrappers can alter the model they wrap).

    The store keeps weights only; the architecture is rebuilt from `train.model`, since a
    user model's Lambda layers and custom objects do not survive a Keras file round trip.
    """
    from mlflow_tflite.train import build_baseline_model, compile_baseline

    if baseline.kind == KERAS3:
        return compile_baseline(_load_twin(baseline), params.train.learning_rate)
    dataset = load_prepared(data.directory, data.version)
    model = build_baseline_model(params.train.model, dataset.input_shape,
                                 dataset.num_classes if dataset.labelled else None,
                                 params.train.trust_model_code)
    model.load_weights(baseline.model_path)
    return compile_baseline(model, params.train.learning_rate)


def _load_twin(baseline: Baseline) -> Any:
    """A Keras 3 baseline's stored tf_keras twin.

    Raises:
        CompressionError: the baseline has none (the problem named).
    """
    from mlflow_tflite.compress import CompressionError
    from mlflow_tflite.train.bridge import twin_from_json

    if baseline.twin_problem is not None or not (
            Path(baseline.directory) / TWIN_CONFIG_FILE).is_file():
        raise CompressionError(f"the Keras 3 model has no tf_keras twin: "
                               f"{baseline.twin_problem or 'not stored'}")
    model = twin_from_json((Path(baseline.directory) / TWIN_CONFIG_FILE).read_text())
    model.load_weights(Path(baseline.directory) / TWIN_WEIGHTS_FILE)
    return model


def unwrappable_variants(variants: list[VariantConfig], params: Params, baseline: Baseline,
                         data: PreparedData) -> dict[str, str]:
    """The variants with a step whose technique cannot wrap the baseline, with the reason:
    each technique they use is tried once on the baseline (`compress.probe`), before any
    variant spends time on its earlier steps. Only a tf_keras baseline is probed (the other
    kinds take no technique)."""
    names = list(dict.fromkeys(step for v in variants for step in v.compress.steps))
    reasons = unwrappable_techniques(names, params, baseline, data)
    return {v.name: reasons[step] for v in variants for step in v.compress.steps[::-1]
            if step in reasons}


def unwrappable_techniques(names: list[str], params: Params, baseline: Baseline,
                           data: PreparedData) -> dict[str, str]:
    """The techniques of `names` that cannot wrap the tf_keras baseline (or a Keras 3
    baseline's tf_keras twin), with the reason (`compress.probe`); none for another kind,
    which takes no technique, nor for a Keras 3 model without a twin (`twin_skips`)."""
    from mlflow_tflite.compress.probe import unwrappable

    if not names or baseline.kind not in (TF_KERAS, KERAS3) or baseline.twin_problem:
        return {}
    return unwrappable(load_baseline_model(baseline, params, data), names)


def search_probe(names: list[str], params: Params, baseline: Baseline,
                 data: PreparedData) -> tuple[dict[str, str], list[int]]:
    """What a search needs of the baseline before its first trial, from one load of it in
    a step process (the command then never imports TensorFlow): the techniques of `names`
    that cannot wrap it (`unwrappable_techniques`) and its kernel sizes, which cap the
    clusters a pruned kernel can take. Both empty for a kind that takes no technique.

    Raises:
        CompressionError: tfmot cannot copy the baseline (a subclassed model).
    """
    from mlflow_tflite.compress.context import fresh_copy, kernel_layers
    from mlflow_tflite.compress.probe import unwrappable

    if baseline.kind not in (TF_KERAS, KERAS3) or baseline.twin_problem:
        return {}, []
    model = load_baseline_model(baseline, params, data)
    fresh_copy(model)
    sizes = [int(layer.kernel.shape.num_elements()) for layer in kernel_layers(model)]
    return (unwrappable(model, names) if names else {}), sizes


def compress(variant: VariantConfig, params: Params, baseline: Baseline, data: PreparedData,
             on_epoch: Any = None, facts: dict[str, Any] | None = None,
             store: ArtifactStore | None = None) -> Any:
    """Apply the variant's compression steps to a fresh copy of the baseline (Keras model);
    `on_epoch` is called after every fine-tune epoch (`compress.EpochHook`); `facts`
    receives what the steps decided (`compress.compress_model`). With a `store`, the
    longest stored result of the variant's first steps is the starting point and each
    step's result is stored for the next variant (`pipeline.prefixes`).

    A Keras 3 baseline is compressed through its tf_keras twin (`train.bridge`); without
    steps the converter starts from the user's own model's SavedModel. A SavedModel or
    `.tflite` baseline takes no compression step (such variants are skipped before the
    flow builds anything): the converter then starts from a SavedModel path or the float
    `.tflite` bytes.
    """
    from mlflow_tflite import compress as techniques

    if not variant.compress.steps and variant.convert == FP32_CONVERSION:
        # The baseline's own conversion recipe: its fp32 file, byte for byte. Converting the
        # rebuilt model again gives other bytes (tensor names), and the fp32 variant would
        # then be timed against the baseline's fp32 as another model, and be refused as
        # "slower than fp32" by noise about half the time.
        return baseline.fp32_path.read_bytes()
    if baseline.kind not in (TF_KERAS, KERAS3) or (baseline.kind == KERAS3
                                                   and not variant.compress.steps):
        if variant.compress.steps:
            raise techniques.CompressionError(
                f"{variant.compress.technique} needs a tf_keras model; the baseline is "
                f"{baseline.kind}"
            )
        if baseline.kind == KERAS3:
            return str(baseline.saved_model_path)
        if baseline.kind == SAVED_MODEL:
            return str(Path(params.train.model).expanduser().resolve())
        return baseline.fp32_path.read_bytes()
    model = load_baseline_model(baseline, params, data)
    if not variant.compress.steps:
        return model
    dataset = load_prepared(data.directory, data.version)
    prefixes = None
    if store is not None:
        from mlflow_tflite.pipeline.prefixes import StoredPrefixes

        prefixes = StoredPrefixes(store, baseline.key, variant.compress, params.train)
    # Variants build side by side: each line names its variant.
    return techniques.compress_model(model, variant.compress, dataset, params.train,
                                     log=lambda line: print(f"{variant.name}: {line}"),
                                     on_epoch=on_epoch, facts=facts, prefixes=prefixes)


def sparse_format(variant: VariantConfig) -> bool:
    """Whether the variant's weights are stored in the sparse format: asked for, and worth
    it only when a step zeroed some (`Technique.sparse`: pruning)."""
    return variant.convert.sparsity_optimization and any(
        get_technique(step).sparse for step in variant.compress.steps)


def convert(
    variant: VariantConfig, model: Any, data: PreparedData, store: ArtifactStore, key: str,
    facts: dict[str, Any] | None = None,
) -> Build:
    """Convert the (compressed) Keras model to `.tflite` and store it under `key`, with the
    compression `facts` beside it when there are any."""
    from mlflow_tflite import convert as recipes

    dataset = load_prepared(data.directory, data.version)
    conversion = recipes.convert_variant(model, variant.convert, dataset,
                                         sparse=sparse_format(variant))
    if isinstance(model, bytes) and variant.convert.quantization == "none":
        # `none` on a `.tflite` baseline is the file itself: say what that file is.
        conversion = dataclasses.replace(
            conversion, quantization=baseline_quantization(conversion.flatbuffer))
    meta = {"variant": variant.name, "recipe": variant.model_dump(mode="json")}
    with store.put("build", key, meta) as tmp:
        (tmp / MODEL_FILE).write_bytes(conversion.flatbuffer)
        (tmp / CONVERSION_FILE).write_text(json.dumps(conversion.metadata(), indent=2))
        if facts:
            (tmp / COMPRESSION_FILE).write_text(json.dumps(facts, indent=2))
    return Build(key, str(store.path("build", key) / MODEL_FILE))


def build(
    variant: VariantConfig,
    params: Params,
    baseline: Baseline,
    data: PreparedData,
    store: ArtifactStore,
    key: str,
    on_epoch: Any = None,
) -> Build:
    """`compress` then `convert` in this process; returns the stored build.

    `on_epoch` is called after every fine-tune epoch (`compress.EpochHook`); what it raises
    stops the build, which then stores nothing.

    Raises:
        Exception: whatever the failing step raised, with attribute `mlflow_tflite_step`
            (`compress` or `convert`; read it with `failed_step`).
    """
    step = "compress"
    facts: dict[str, Any] = {}
    try:
        model = compress(variant, params, baseline, data, on_epoch, facts, store)
        step = "convert"
        return convert(variant, model, data, store, key, facts)
    except Exception as error:
        setattr(error, STEP_ATTRIBUTE, step)
        raise


def failed_step(error: BaseException, default: str) -> str:
    """The step of `build` that raised `error`, else `default`."""
    return getattr(error, STEP_ATTRIBUTE, default)


def stored_build(store: ArtifactStore, key: str) -> Build | None:
    entry = store.get("build", key)
    return None if entry is None else Build(key, str(entry / MODEL_FILE))
