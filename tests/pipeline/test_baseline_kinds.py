"""The steps on Keras 3 and `.tflite` baselines: what is stored, built and measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_tflite import checks
from mlflow_tflite.config import Params
from mlflow_tflite.data import DataError
from mlflow_tflite.pipeline import ArtifactStore, handles, keys, measuring, steps
from mlflow_tflite.train import ModelError
from tests.helpers import keras3_classifier, landmark_tflite, tiny_cnn, to_tflite

FAST = {"delegates": ["xnnpack"], "warmup_runs": 1, "timed_runs": 2, "cold_start": False}


def _params(tmp_path: Path, model: str, source: str = "digits", epochs: int = 0,
            quantization: str = "none") -> Params:
    return checks.load_checked_params(_write(tmp_path, {
        "data": {"source": source, "output_dir": str(tmp_path / "prepared"), "max_samples": 300},
        "train": {"model": model, "epochs": epochs},
        "variants": [{"name": "v", "convert": {"quantization": quantization}}],
        "benchmark": FAST,
    }))


def _write(tmp_path: Path, raw: dict) -> Path:
    import yaml

    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _build_and_measure(params: Params, tmp_path: Path) -> tuple[handles.Baseline, bytes, dict]:
    store = ArtifactStore(tmp_path / "cache")
    data = steps.prepare(params, store)
    baseline = steps.train_baseline(params, data, store)
    [variant] = params.variants
    key = keys.build_key(baseline.key, variant)
    build = steps.build(variant, params, baseline, data, store, key)
    measured = measuring.measure(variant, params, build, baseline, data, store,
                             keys.measure_key(key, baseline.key, params))
    return baseline, Path(build.tflite_path).read_bytes(), measured["metrics"]


def test_a_float_tflite_classifier_is_judged_by_accuracy_and_none_is_the_file(tmp_path: Path):
    model = tmp_path / "classifier.tflite"
    model.write_bytes(to_tflite(tiny_cnn()))
    baseline, built, metrics = _build_and_measure(_params(tmp_path, str(model)), tmp_path)
    assert baseline.kind == "tflite" and baseline.class_scores and baseline.accuracy > 0.3
    assert built == model.read_bytes() == baseline.fp32_path.read_bytes()
    assert metrics["accuracy"] == baseline.accuracy and metrics["accuracy_delta"] == 0.0
    assert metrics["agreement"] == 1.0 and metrics["max_abs_diff"] == 0.0


def test_a_keras3_int8_variant_is_converted_from_the_stored_saved_model(tmp_path: Path):
    model = str(keras3_classifier(tmp_path / "classifier.keras", train=True))
    params = _params(tmp_path, model, quantization="int8")
    baseline, built, metrics = _build_and_measure(params, tmp_path)
    assert baseline.kind == "keras3" and baseline.history == {}  # epochs 0: as saved
    assert (baseline.saved_model_path / "saved_model.pb").is_file()
    assert len(built) < baseline.fp32_size_bytes / 2
    assert 15 < metrics["output_snr_db"] < 100  # quantized, yet close to the float model
    assert abs(metrics["accuracy_delta"]) < 0.05


def test_fine_tuning_a_model_whose_outputs_are_not_class_scores_is_refused(tmp_path: Path):
    import keras

    inputs = keras.Input((8, 8, 1))
    points = keras.layers.Dense(4)(keras.layers.Flatten()(inputs))
    keras.Model(inputs, points).save(tmp_path / "points.keras")
    params = _params(tmp_path, str(tmp_path / "points.keras"), epochs=1)
    store = ArtifactStore(tmp_path / "cache")
    # Four outputs read as four classes: the digits' labels 4..9 have none, found while
    # the data is prepared, before anything trains.
    with pytest.raises(DataError, match="label 9 is outside train.model's 4 classes"):
        steps.prepare(params, store)
    assert store.get("prepare", keys.prepare_key(params)) is None


def test_a_quantized_tflite_is_refused_as_a_baseline(tmp_path: Path):
    model = tmp_path / "int8.tflite"
    model.write_bytes(to_tflite(tiny_cnn(), "int8", io_type="int8"))
    params = _params(tmp_path, str(model))
    store = ArtifactStore(tmp_path / "cache")
    data = steps.prepare(params, store)
    with pytest.raises(ModelError, match="is int8, not a float model"):
        steps.train_baseline(params, data, store)


def test_synthetic_inputs_take_the_shape_of_the_tflite_input(tmp_path: Path):
    model = landmark_tflite(tmp_path / "landmarks.tflite")
    params = _params(tmp_path, str(model), source="synthetic")
    baseline, built, metrics = _build_and_measure(params, tmp_path)
    assert handles.load_prepared(str(tmp_path / "prepared"), baseline_version(tmp_path)
                               ).x_test.shape[1:] == (8, 8, 1)
    assert baseline.accuracy is None and not baseline.class_scores
    assert "accuracy" not in metrics and "agreement" not in metrics
    assert metrics["output_cosine"] == pytest.approx(1.0)


def baseline_version(tmp_path: Path) -> str:
    from mlflow_tflite.data import load_dataset

    return load_dataset(tmp_path / "prepared").version


def _digit_logits_saved_model(path: Path) -> Path:
    """A generic SavedModel classifier for the 8x8 digits: one input, one (10,) output."""
    import numpy as np

    from mlflow_tflite._tf import import_tensorflow

    tf = import_tensorflow()
    weights = tiny_cnn().get_weights()  # trained one epoch: a classifier worth measuring

    class Digits(tf.Module):
        def __init__(self):
            super().__init__()
            self.weights = [tf.Variable(np.asarray(w)) for w in weights]

        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.float32, "image")])
        def __call__(self, image):
            kernel, bias, w1, b1, w2, b2 = self.weights
            x = tf.nn.relu(tf.nn.conv2d(image, kernel, 1, "VALID") + bias)
            x = tf.nn.relu(tf.reshape(x, [-1, 288]) @ w1 + b1)
            return {"logits": x @ w2 + b2}

    tf.saved_model.save(Digits(), str(path))
    return path


def test_a_generic_saved_model_classifier_is_converted_from_its_signature_and_judged_by_accuracy(
    tmp_path: Path
):
    model = _digit_logits_saved_model(tmp_path / "digits_saved_model")
    params = _params(tmp_path, str(model), quantization="dynamic")
    baseline, built, metrics = _build_and_measure(params, tmp_path)
    assert baseline.kind == "saved_model" and baseline.class_scores
    assert baseline.accuracy > 0.3
    assert len(built) < baseline.fp32_size_bytes / 2
    assert abs(metrics["accuracy_delta"]) < 0.05 and metrics["agreement"] > 0.9


def test_a_two_input_tflite_gets_synthetic_data_for_each_input_and_snr_per_output(
    tmp_path: Path
):
    from mlflow_tflite._tf import import_tensorflow
    from tests.helpers import two_head_saved_model

    saved = two_head_saved_model(tmp_path / "two_heads")
    model = tmp_path / "two_heads.tflite"
    model.write_bytes(import_tensorflow().lite.TFLiteConverter.from_saved_model(
        str(saved)).convert())
    params = _params(tmp_path, str(model), source="synthetic", quantization="int8_weight_only")
    baseline, _, metrics = _build_and_measure(params, tmp_path)
    x = handles.load_prepared(str(tmp_path / "prepared"), baseline_version(tmp_path)).x_test
    assert {name: x[name].dtype.name for name in x.dtype.names} == {
        "extra": "int32", "image": "float32"}
    assert not baseline.class_scores and "agreement" not in metrics
    snrs = [metrics["output_snr_db/logits"], metrics["output_snr_db/score"]]
    assert metrics["output_snr_db"] == min(snrs) and 20 < min(snrs) < 100


def test_a_two_input_keras3_model_is_calibrated_by_input_name_on_synthetic_data(
    tmp_path: Path
):
    import keras

    keras.utils.set_random_seed(0)
    image = keras.Input((8, 8, 1), name="image")
    ids = keras.Input((3,), name="ids", dtype="int32")
    features = keras.layers.Concatenate()([keras.layers.Flatten()(image),
                                           keras.ops.cast(ids, "float32") / 10.0])
    hidden = keras.layers.Dense(16, activation="relu")(features)
    keras.Model([image, ids], [keras.layers.Dense(10, name="logits")(hidden),
                               keras.layers.Dense(1, name="score")(hidden)]
                ).save(tmp_path / "two_inputs.keras")
    params = _params(tmp_path, str(tmp_path / "two_inputs.keras"), source="synthetic",
                     quantization="int8")
    baseline, _, metrics = _build_and_measure(params, tmp_path)
    assert baseline.kind == "keras3" and not baseline.class_scores
    assert metrics["size_bytes"] < baseline.fp32_size_bytes
    assert "agreement" not in metrics
    # Keras 3's export names a list of outputs output_0, output_1 in its signature.
    snrs = {k: v for k, v in metrics.items() if k.startswith("output_snr_db/")}
    assert set(snrs) == {"output_snr_db/output_0", "output_snr_db/output_1"}
    assert metrics["output_snr_db"] == min(snrs.values()) and 15 < min(snrs.values()) < 100
