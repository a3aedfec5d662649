"""The tf_keras twin of a Keras 3 model (`train.bridge`): rebuilt from the config, weights
copied, outputs compared; a model it cannot carry over exactly is named, never bridged."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_tflite.config import CompressConfig, TrainConfig
from mlflow_tflite.train.bridge import carry_over, twin_from_json
from mlflow_tflite.train.kinds import KERAS3
from mlflow_tflite.train.support import twin_skips
from tests.helpers import digits


def covered_layers_model():
    """A Keras 3 functional model with every layer family the bridge covers."""
    import keras

    layers = keras.layers
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1), name="image")
    x = layers.Rescaling(1 / 8.0, offset=-0.5)(inputs)
    x = layers.Normalization(mean=[0.1], variance=[2.0])(x)
    x = layers.ZeroPadding2D(1)(x)
    x = layers.Conv2D(8, 3, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    a = layers.DepthwiseConv2D(3, padding="same")(x)
    a = layers.Activation("hard_swish")(a)
    b = layers.SeparableConv2D(8, 3, padding="same", activation="relu6")(x)
    x = layers.Add()([a, b])
    x = layers.Multiply()([x, layers.Activation("hard_sigmoid")(x)])
    x = layers.Concatenate()([x, layers.Activation("relu6")(x)])
    t = layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="silu")(x)
    t = layers.MaxPooling2D(2)(t)
    t = layers.AveragePooling2D(2)(t)
    pooled = layers.Concatenate()([layers.GlobalAveragePooling2D()(t),
                                   layers.GlobalMaxPooling2D()(x)])
    x = layers.Flatten()(layers.Reshape((4, 5))(pooled))
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(16, activation="leaky_relu")(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return digits()[0][:64]


def test_every_covered_layer_is_carried_over_exactly(images):
    twin = carry_over(covered_layers_model(), images)
    assert twin.ok, twin.problem
    assert twin.max_abs_diff < 1e-5 and twin.samples == 64
    assert type(twin.model).__module__.startswith("tf_keras")
    assert twin.describe().startswith("tf_keras twin, max abs output difference")
    # Stored as JSON (what the artifact store keeps) and rebuilt, it computes the same.
    again = twin_from_json(twin.model.to_json())
    again.set_weights(twin.model.get_weights())
    np.testing.assert_allclose(again.predict(images, verbose=0),
                               twin.model.predict(images, verbose=0), atol=1e-6)


def test_a_keras_applications_mobilenet_v2_is_carried_over_exactly():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(alpha=0.35, weights=None, input_shape=(32, 32, 3),
                                           classes=10)
    x = np.random.default_rng(0).uniform(-1, 1, (16, 32, 32, 3)).astype("float32")
    twin = carry_over(model, x)
    assert twin.ok, twin.problem
    assert twin.max_abs_diff < 1e-5
    assert [layer.name for layer in twin.model.layers] == [layer.name for layer in model.layers]


def test_a_sequential_model_stays_sequential(images):
    import keras

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    twin = carry_over(model, images)
    assert twin.ok and type(twin.model).__name__ == "Sequential"


def test_a_custom_layer_is_named_and_no_twin_is_made(images):
    import keras

    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2

    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(10)(keras.layers.Flatten()(Doubler(name="doubler")(inputs)))
    twin = carry_over(keras.Model(inputs, outputs), images)
    assert twin.model is None
    assert twin.problem == ("layer 'doubler' (Doubler) is not a built-in Keras layer; it has "
                            "no tf_keras twin")


def test_outputs_that_differ_beyond_tolerance_are_refused(images):
    twin = carry_over(covered_layers_model(), images, tolerance=0.0)
    if twin.max_abs_diff == 0.0:  # bit-identical on this machine: nothing to refuse
        pytest.skip("the twin is bit-identical")
    assert twin.model is None and twin.problem.startswith("outputs differ by up to")


def test_without_a_twin_the_tfmot_variants_are_skipped_with_the_problem():
    from mlflow_tflite.config import VariantConfig

    variants = [VariantConfig(name="fp32"),
                VariantConfig(name="pc", compress={"prune": {}, "cluster": {}})]
    assert twin_skips(variants, KERAS3, None) == {}
    assert twin_skips(variants, KERAS3, "layer 'doubler' (Doubler) ...") == {
        "pc": "pruning needs a tf_keras twin of the Keras 3 model, which has none: layer "
              "'doubler' (Doubler) ..."}


@pytest.mark.parametrize("steps", [{"prune": {"final_sparsity": 0.5, "epochs": 1,
                                             "layers": {"min_weights": 16}}},
                                   {"cluster": {"clusters": 4, "epochs": 1}},
                                   {"qat": {"epochs": 1}}])
def test_tfmot_wraps_the_twin_of_a_keras3_mobilenet_block(steps: dict):
    """Pruning, clustering and QAT run on a twin with BatchNorm, ReLU6, depthwise and
    residual layers (a MobileNetV2 block)."""
    import keras

    from mlflow_tflite.compress import compress_model
    from mlflow_tflite.data import Dataset

    layers = keras.layers
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = layers.ReLU(6.0)(layers.BatchNormalization()(layers.Conv2D(8, 3, padding="same")(inputs)))
    y = layers.BatchNormalization()(layers.DepthwiseConv2D(3, padding="same")(x))
    x = layers.Add()([x, layers.ReLU(6.0)(y)])
    outputs = layers.Dense(10, activation="softmax")(layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    x_all, y_all = digits()
    twin = carry_over(model, x_all[:32])
    assert twin.ok, twin.problem
    from mlflow_tflite.train import compile_baseline

    dataset = Dataset(x_all[:200], y_all[:200], x_all[200:260], y_all[200:260],
                      x_all[260:320], y_all[260:320], tuple(str(i) for i in range(10)), "digits")
    compressed = compress_model(compile_baseline(twin.model, 1e-3), CompressConfig(**steps),
                                dataset, TrainConfig(batch_size=64), log=lambda _: None)
    assert compressed.predict(x_all[:4], verbose=0).shape == (4, 10)


def test_the_search_keeps_its_tfmot_dimensions_for_a_keras3_baseline(tmp_path):
    from mlflow_tflite.search.space import narrow_to_baseline, parse_space
    from tests.helpers import keras3_classifier

    model = str(keras3_classifier(tmp_path / "classifier.keras"))
    space = parse_space({"prune": {"final_sparsity": {"low": 0.5, "high": 0.9}},
                         "cluster": {"clusters": {"low": 4, "high": 16}},
                         "qat": {"use": {"choices": [False, True]}},
                         "convert": {"quantization": {"choices": ["int8", "dynamic"]}}})
    narrowed, note = narrow_to_baseline(space, model)
    assert note is None and list(narrowed.blocks) == list(space.blocks)
