"""Tiny models and data shared by tests: seconds to build, real TensorFlow and LiteRT."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from mlflow_tflite._tf import import_keras, import_tensorflow


@lru_cache(maxsize=1)
def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits as float32 NHWC in [0, 1] and int labels."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32).reshape(-1, 8, 8, 1), y.astype(np.int64)


def tiny_cnn(seed: int = 0):
    """A small Keras 2 CNN for 8x8x1 input and 10 classes, trained for one epoch."""
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.layers.Input((8, 8, 1), name="image"),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, name="logits"),
        ]
    )
    x, y = digits()
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"]
    )
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    return model


def multi_io_model():
    """Two inputs (an image and a vector), two outputs (logits and a score)."""
    keras = import_keras()
    keras.utils.set_random_seed(0)
    image = keras.Input((8, 8, 1), name="image")
    extra = keras.Input((3,), name="extra")
    features = keras.layers.Flatten()(image)
    merged = keras.layers.Concatenate()([features, extra])
    logits = keras.layers.Dense(10, name="logits")(merged)
    score = keras.layers.Dense(1, activation="sigmoid", name="score")(merged)
    return keras.Model([image, extra], [logits, score])


def to_tflite(model, quantization: str = "none", io_type: str = "float32") -> bytes:
    """Convert with the plain TFLiteConverter (independent of the library's convert module)."""
    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantization != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization == "int8":
        shapes = [tuple(int(d) for d in t.shape[1:]) for t in model.inputs]
        rng = np.random.default_rng(0)

        def representative():
            for _ in range(20):
                yield [rng.random((1, *shape), dtype=np.float32) for shape in shapes]

        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io_type != "float32":
            converter.inference_input_type = getattr(tf, io_type)
            converter.inference_output_type = getattr(tf, io_type)
    return converter.convert()


def keras3_classifier(path, seed: int = 0, train: bool = False):
    """A tiny Keras 3 (not tf_keras) CNN for 8x8x1 digits, 10 softmax classes, saved as a
    Keras 3 `.keras` file at `path`; trained for a few epochs on digits when `train`."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs)
    if train:
        x_all, y_all = digits()
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x_all, y_all, epochs=3, batch_size=64, verbose=0)
    model.save(path)
    return path


def landmark_tflite(path, seed: int = 0):
    """A float `.tflite` that is not a classifier: 8x8x1 in, 4 coordinates and 2 scores out
    (made here by Keras 3 and the converter; the flow treats it as from any converter)."""
    import tempfile

    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1), name="image")
    features = keras.layers.Dense(16, activation="relu")(keras.layers.Flatten()(inputs))
    points = keras.layers.Dense(4, name="points")(features)
    scores = keras.layers.Dense(2, activation="sigmoid", name="scores")(features)
    with tempfile.TemporaryDirectory() as tmp:
        keras.Model(inputs, [points, scores]).export(tmp, format="tf_saved_model", verbose=False)
        flatbuffer = import_tensorflow().lite.TFLiteConverter.from_saved_model(tmp).convert()
    with open(path, "wb") as handle:
        handle.write(flatbuffer)
    return path


def outlier_mlp(outlier: float = 50.0):
    """Flatten -> Dense(32) `sensitive` -> Dense(32) `middle` -> Dense(10) `logits`,
    trained one epoch, then `sensitive` gets weight `outlier` from pixel 0 into every
    unit. Pixel 0 of the digits is always 0, so the float model is unchanged, but the
    outlier sets the weight scale (per tensor and per channel): at 8 or 4 bits the
    layer's other weights round to 0, and it alone loses most of its signal.
    """
    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.layers.Input((8, 8, 1), name="image"),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu", name="sensitive"),
            keras.layers.Dense(32, activation="relu", name="middle"),
            keras.layers.Dense(10, name="logits"),
        ]
    )
    x, y = digits()
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"]
    )
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    layer = model.get_layer("sensitive")
    kernel, bias = layer.get_weights()
    kernel[0, :] = outlier
    layer.set_weights([kernel, bias])
    return model


def aeq_quantize(float_model: bytes, recipe_name: str, directory) -> bytes:
    """Quantize a float `.tflite` with one of ai-edge-quantizer's built-in recipes
    (e.g. `weight_only_wi4_afp32`, `dynamic_wi4_afp32`)."""
    from pathlib import Path

    from ai_edge_quantizer import quantizer, recipe

    source, target = Path(directory) / "float.tflite", Path(directory) / f"{recipe_name}.tflite"
    source.write_bytes(float_model)
    qt = quantizer.Quantizer(str(source))
    qt.load_quantization_recipe(getattr(recipe, recipe_name)())
    qt.quantize().export_model(str(target), overwrite=True)
    return target.read_bytes()


def old_style_tflite(flatbuffer: bytes) -> bytes:
    """The model as older converters wrote it: each op code in the flatbuffer's
    `deprecated_builtin_code`, `builtin_code` left at 0 (ADD)."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    for code in model.operatorCodes:
        assert code.builtinCode < 127, "codes past 127 never lived in the deprecated field"
        code.deprecatedBuiltinCode, code.builtinCode = code.builtinCode, 0
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def two_head_saved_model(path):
    """A generic SavedModel (`tf.saved_model.save` of a `tf.Module`, no Keras): inputs
    `image` (8x8x1 float32) and `extra` (3 int32 ids), outputs `logits` (10) and `score`
    (1, a sigmoid): not class scores of one output."""
    tf = import_tensorflow()
    rng = np.random.default_rng(0)

    class TwoHeads(tf.Module):
        def __init__(self):
            super().__init__()
            self.hidden = tf.Variable(rng.normal(0, 0.2, (67, 16)).astype(np.float32))
            self.logits = tf.Variable(rng.normal(0, 0.2, (16, 10)).astype(np.float32))
            self.score = tf.Variable(rng.normal(0, 0.2, (16, 1)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.float32, "image"),
                                      tf.TensorSpec([None, 3], tf.int32, "extra")])
        def __call__(self, image, extra):
            features = tf.concat([tf.reshape(image, [-1, 64]),
                                  tf.cast(extra, tf.float32) / 10.0], axis=1)
            hidden = tf.nn.relu(features @ self.hidden)
            return {"logits": hidden @ self.logits,
                    "score": tf.sigmoid(hidden @ self.score)}

    tf.saved_model.save(TwoHeads(), str(path))
    return path
