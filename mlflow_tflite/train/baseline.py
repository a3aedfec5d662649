"""The baseline Keras model: the built-in CNN or a user model, checked to be tfmot-wrappable."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlflow_tflite._tf import import_keras
from mlflow_tflite.data.synthetic import InputSpec
from mlflow_tflite.errors import first_line
from mlflow_tflite.train.model_code import code_layers, refusal, refused_by_safe_mode

BUILTIN = "builtin"
MODEL_FILE_SUFFIXES = (".keras", ".h5", ".hdf5")
# Spatial size at or below which the CNN stops adding conv/pool blocks.
_TARGET_FEATURE_SIZE = 7
# Below this, 3x3 "valid" convolutions and pooling would shrink the map to nothing.
_MIN_VALID_SIZE = 10


# Why `builtin` and builders cannot take unlabelled inputs.
UNLABELLED_NEEDS_FILE = ("data.source: synthetic shapes its inputs as a model file's; builtin "
                         "and module:function models are built for labelled data")


class ModelError(ValueError):
    """A baseline model that cannot be built, loaded or wrapped by tfmot; one line, the reason."""


def builtin_cnn(input_shape: Sequence[int], num_classes: int) -> Any:
    """The classic digit CNN sized from the input: for 28x28x1 and 10 classes exactly
    Conv2D(32)-pool-Conv2D(64)-pool-Flatten-Dense(64)-Dense(10, softmax).

    Inputs under 10 pixels (the 8x8 digits) use "same" padding so shapes stay valid;
    inputs larger than 28 get more Conv2D(64)-pool blocks until the feature map is at most
    7 pixels, so the dense layer stays small.

    Example:
        >>> builtin_cnn((28, 28, 1), 10).output_shape
        (None, 10)
    """
    keras = import_keras()
    height, width = int(input_shape[0]), int(input_shape[1])
    padding = "valid" if min(height, width) >= _MIN_VALID_SIZE else "same"
    layers: list[Any] = [keras.layers.Input(tuple(int(d) for d in input_shape), name="image")]
    size = min(height, width)
    filters = [32, 64]
    while len(filters) < 5 and _after_block(size, padding, len(filters)) > _TARGET_FEATURE_SIZE:
        filters.append(64)
    for index, count in enumerate(filters, start=1):
        layers.append(
            keras.layers.Conv2D(count, 3, padding=padding, activation="relu", name=f"conv{index}")
        )
        layers.append(keras.layers.MaxPooling2D(2, padding=padding, name=f"pool{index}"))
    layers += [
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(64, activation="relu", name="dense"),
        keras.layers.Dense(num_classes, activation="softmax", name="probabilities"),
    ]
    return keras.Sequential(layers, name="builtin_cnn")


def _after_block(size: int, padding: str, blocks: int) -> int:
    for _ in range(blocks):
        size = (size - 2) // 2 if padding == "valid" else (size + 1) // 2
    return size


def build_baseline_model(spec: str, input_shape: Sequence[int], num_classes: int | None,
                         trust_code: bool = False) -> Any:
    """The model named by `train.model`, checked before any training.

    Args:
        spec: `builtin`, a `.keras`/`.h5` file or SavedModel directory saved by tf_keras,
            or `module:function` called as `function(input_shape, num_classes)`.
        input_shape: One example's shape, e.g. (28, 28, 1).
        num_classes: Number of classes the output must have; None for unlabelled inputs
            (`data.source: synthetic`, shaped from the model file itself): the file is
            used as is, whatever its outputs, since no technique fine-tunes it.
        trust_code: `train.trust_model_code`: load a file's Lambda layers (Python code)
            instead of refusing them in Keras safe mode.

    Returns:
        An uncompiled or compiled tf_keras Sequential/functional model.

    Raises:
        ModelError: it cannot be loaded or built, or tfmot could not wrap it.
    """
    input_shape = tuple(int(d) for d in input_shape)
    path = Path(spec).expanduser()
    if num_classes is None:
        if not path.exists():
            raise ModelError(f"{spec}: {UNLABELLED_NEEDS_FILE}")
        return _load_model_file(path, trust_code)
    if spec == BUILTIN:
        return builtin_cnn(input_shape, num_classes)
    if path.exists():
        model = _load_model_file(path, trust_code)
    elif path.suffix in MODEL_FILE_SUFFIXES or spec.endswith(("/", "\\")):
        raise ModelError(f"{spec}: model file not found")
    elif ":" in spec:
        model = _call_builder(spec, input_shape, num_classes)
    else:
        raise ModelError(
            f"{spec}: no such model file or directory (train.model is `builtin`, a "
            "`.keras`/`.h5`/SavedModel path, or `module:function`)"
        )
    check_wrappable(model, input_shape, num_classes, origin=spec)
    return model


def file_input_specs(spec: str, trust_code: bool = False) -> list[InputSpec]:
    """The one input of the tf_keras model file `spec` (name, shape without batch, dtype),
    which `data.source: synthetic` shapes its inputs as.

    Raises:
        ModelError: not a model file (`builtin`, a builder), not loadable, or not one input.
    """
    path = Path(spec).expanduser()
    if not path.exists():
        raise ModelError(f"{spec}: {UNLABELLED_NEEDS_FILE}")
    model = _load_model_file(path, trust_code)
    if len(model.inputs) != 1:
        raise ModelError(f"{spec}: has {len(model.inputs)} inputs; data.source: synthetic "
                         "feeds a tf_keras model one (export it with tf.saved_model.save("
                         "model, DIR) and set train.model to DIR)")
    tensor = model.inputs[0]
    return [InputSpec(tensor.name, tuple(tensor.shape[1:]), tensor.dtype.name)]


def _load_model_file(path: Path, trust_code: bool) -> Any:
    keras = import_keras()
    if path.is_file() and path.suffix not in MODEL_FILE_SUFFIXES:
        raise ModelError(f"{path}: not a model file (expected .keras, .h5 or a SavedModel dir)")
    from tf_keras.src.saving.serialization_lib import SafeModeScope

    try:
        # `safe_mode` covers `.keras` files only; tf_keras reads .h5 and SavedModel Lambda
        # layers in safe mode only inside this scope (else it runs their bytecode).
        with SafeModeScope(not trust_code):
            return keras.models.load_model(path, compile=False, safe_mode=not trust_code)
    # Keras raises many exception types here; every one means the file cannot be used.
    except Exception as exc:
        if not trust_code and refused_by_safe_mode(exc):
            raise ModelError(refusal(path, code_layers(path) or ["?"])) from None
        raise ModelError(
            f"{path}: tf_keras could not load it ({first_line(exc, limit=200)}); "
            "save it with tf_keras (Keras 2), not Keras 3"
        ) from exc


def _call_builder(spec: str, input_shape: tuple[int, ...], num_classes: int) -> Any:
    from mlflow_tflite._discovery import import_function

    try:
        builder = import_function(spec)
    except LookupError as exc:
        raise ModelError(str(exc)) from exc
    try:
        return builder(input_shape, num_classes)
    # Whatever user code raises, the baseline cannot be built: report it as a model error.
    except Exception as exc:
        raise ModelError(f"{spec}: builder failed: {type(exc).__name__}: {exc}") from exc


def tfmot_problem(model: Any) -> str | None:
    """Why tfmot cannot wrap `model`, or None when it can: the one place that decides.

    tfmot 0.8 wraps only tf_keras (Keras 2) Sequential or functional models.
    """
    keras = import_keras()
    kind = f"{type(model).__module__}.{type(model).__name__}"
    if not isinstance(model, keras.Model):
        if kind.split(".")[0] == "keras":
            return (f"a Keras 3 model ({kind}); tfmot needs a tf_keras (Keras 2) model: "
                    "build it with `import tf_keras as keras`")
        return f"{kind}, not a tf_keras Model"
    # Sequential and functional models are graph networks; subclassed models are not.
    if not getattr(model, "_is_graph_network", False):
        what = (
            "a Sequential model without an Input layer"
            if isinstance(model, keras.Sequential)
            else f"a subclassed model ({type(model).__name__})"
        )
        return (f"{what}; tfmot can only wrap Sequential or functional models "
                "with a known input shape")
    return None


def check_wrappable(model: Any, input_shape: Sequence[int], num_classes: int, origin: str) -> None:
    """Reject a model tfmot cannot wrap or that does not fit the data, with the reason.

    tfmot 0.8 wraps only tf_keras (Keras 2) Sequential or functional models with one input
    and one output.

    Raises:
        ModelError: the first problem found.
    """
    problem = tfmot_problem(model)
    if problem is not None:
        raise ModelError(f"{origin}: {problem}")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(
            f"{origin}: has {len(model.inputs)} input(s) and {len(model.outputs)} output(s); "
            "expected one of each"
        )
    check_input_shape(tuple(model.input_shape[1:]), input_shape, origin)
    units = model.output_shape[-1]
    if len(model.output_shape) != 2 or units != num_classes:
        raise ModelError(
            f"{origin}: output shape {tuple(model.output_shape[1:])} does not match "
            f"{num_classes} classes; expected ({num_classes},)"
        )


def check_input_shape(got: Sequence[int | None], data: Sequence[int], origin: str) -> None:
    """Reject a model input shape (no batch) that the data's examples do not fit; an
    unknown dimension (None or -1) fits anything.

    Raises:
        ModelError: naming both shapes.
    """
    got, expected = tuple(got), tuple(int(d) for d in data)
    if len(got) != len(expected) or any(
        g not in (None, -1, e) for g, e in zip(got, expected, strict=True)
    ):
        raise ModelError(f"{origin}: input shape {got} does not match the data {expected}")


def outputs_probabilities(model: Any) -> bool:
    """Whether the model ends in softmax (probabilities) rather than logits."""
    keras = import_keras()
    last = model.layers[-1]
    # tfmot wrappers keep the wrapped layer in `.layer`.
    last = getattr(last, "layer", last)
    if isinstance(last, keras.layers.Softmax):
        return True
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", "") == "softmax"
