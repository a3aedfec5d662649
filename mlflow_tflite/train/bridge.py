"""The tf_keras twin of a Keras 3 model, so that TFMOT's techniques apply to it.

tfmot 0.8 wraps only tf_keras (Keras 2) layers. A Keras 3 model made of layers both
frameworks have is rebuilt in tf_keras from its own config (layer by layer, same names,
same graph), its weights are copied, and the two models' outputs are compared on the
prepared test inputs. Only a twin whose largest difference is within float tolerance is
used; otherwise (a custom or unknown layer, a config tf_keras reads differently, outputs
that differ) the compression variants are skipped with the layer or the difference named.
The fp32 variant is always the user's own Keras 3 model.

Config differences handled here: Keras 3 writes dtypes as `DTypePolicy` objects, the
input's `batch_shape` (tf_keras: `batch_input_shape`), initializers with a `module` key
and keys tf_keras does not know (`optional`, `quantization_config`, ...), and functional
`inbound_nodes` as `{args, kwargs}` with `__keras_tensor__` references.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlflow_tflite.errors import first_line

# Largest |Keras 3 - tf_keras| output difference accepted, relative to the outputs' scale
# (max(1, max |output|)): float32 round-off of the same ops in two graphs is ~1e-6.
TOLERANCE = 1e-4
# Test inputs compared (evenly spaced over the test split).
MAX_SAMPLES = 256
# Inputs per forward pass of the comparison (peak memory, not speed, decides).
BATCH = 16
# Keys a Keras 3 layer config may hold that tf_keras does not read, dropped only when they
# hold the value that means "off" (anything else could change what the layer computes).
_NEUTRAL = (None, False, 0, "", [], {})
# Initializers only draw new weights; the twin's weights are copied, so they are dropped.
_INITIALIZER_SUFFIX = "_initializer"
# Containers the bridge does not descend into (tfmot cannot wrap a nested model either).
_NESTED = {"Functional", "Sequential", "Model"}
# The registered names of the activation functions tf_keras lacks: `mlflow_tflite>relu6`.
_PACKAGE = "mlflow_tflite"
_BASE_LAYER_KEYS = {"name", "trainable", "dtype", "dynamic", "input_dim", "input_shape",
                    "batch_input_shape", "batch_size", "weights", "activity_regularizer",
                    "autocast", "input_length"}


class BridgeError(ValueError):
    """The Keras 3 model cannot be carried over to tf_keras exactly (one line)."""


@dataclass(frozen=True)
class Twin:
    """The outcome of carrying a Keras 3 model over: the tf_keras `model` (None when it
    cannot be used), the largest output difference found, and why not when not."""

    model: Any
    max_abs_diff: float | None
    problem: str | None
    samples: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None

    def describe(self) -> str:
        """One line for the log and the parent run's tag."""
        if self.problem is not None:
            return f"no tf_keras twin: {self.problem}"
        return (f"tf_keras twin, max abs output difference {self.max_abs_diff:.2e} on "
                f"{self.samples} test inputs")


def carry_over(model: Any, x: Any, tolerance: float = TOLERANCE) -> Twin:
    """Rebuild the Keras 3 `model` as tf_keras, copy its weights and compare both models'
    outputs on (up to MAX_SAMPLES of) the inputs `x`.

    Never raises for a model it cannot carry over: the Twin then names the problem.
    """
    try:
        twin = tf_keras_twin(model)
    except BridgeError as error:
        return Twin(None, None, str(error))
    # tf_keras may refuse a config in many ways; each means "no exact twin".
    except Exception as error:  # noqa: BLE001
        return Twin(None, None, f"tf_keras could not rebuild it ({first_line(error, limit=200)})")
    sample = _sample(x)
    expected = _outputs(model, sample)
    diff = _max_difference(expected, _outputs(twin, sample))
    samples = len(next(iter(sample.values())) if isinstance(sample, dict) else sample)
    scale = max(1.0, max(float(np.max(np.abs(o))) for o in expected))
    if not np.isfinite(diff) or diff > tolerance * scale:
        return Twin(None, diff, f"outputs differ by up to {diff:.3g} on {samples} test "
                                f"inputs (tolerance {tolerance * scale:.1g})", samples)
    return Twin(twin, diff, None, samples)


def _max_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """The largest absolute difference between two models' outputs."""
    return max(float(np.max(np.abs(p.astype(np.float64) - q.astype(np.float64))))
               for p, q in zip(a, b, strict=True))


def tf_keras_twin(model: Any) -> Any:
    """The tf_keras model with `model`'s architecture, layer names and weights.

    Raises:
        BridgeError: a layer tf_keras has no twin for, or weights that do not fit it.
    """
    from mlflow_tflite._tf import import_keras

    tfk = import_keras()
    config = model.get_config()
    if type(model).__name__ == "Sequential":
        layers = [_layer(tfk, entry) for entry in config["layers"]]
        twin = tfk.Sequential(layers, name=config.get("name"))
    else:
        twin = _functional(tfk, config)
    _copy_weights(model, twin)
    return twin


def twin_from_json(config: str) -> Any:
    """A stored twin's architecture (`model.to_json()`), rebuilt in tf_keras."""
    from mlflow_tflite._tf import import_keras

    tfk = import_keras()
    _registered_activations(tfk)
    return tfk.models.model_from_json(config)


def _layer(tfk: Any, entry: dict[str, Any]) -> Any:
    class_name = entry["class_name"]
    config = dict(entry["config"])
    name = config.get("name", entry.get("name", "?"))
    module = str(entry.get("module") or "")
    if class_name in _NESTED:
        raise BridgeError(f"layer {name!r} is a nested {class_name} model (not carried over)")
    if entry.get("registered_name") or not module.startswith("keras.layers"):
        raise BridgeError(f"layer {name!r} ({entry.get('registered_name') or class_name}) is "
                          "not a built-in Keras layer; it has no tf_keras twin")
    cls = getattr(tfk.layers, class_name, None)
    if cls is None:
        raise BridgeError(f"layer {name!r} ({class_name}) has no tf_keras twin")
    if class_name == "InputLayer":
        config["batch_input_shape"] = config.pop("batch_shape", None)
    if class_name == "Activation" and config.get("activation") == "relu6":
        # A ReLU layer, not a function: tfmot's QAT knows ReLU layers, not custom functions.
        return tfk.layers.ReLU(6.0, name=name, dtype=_plain(config.get("dtype")))
    if "activation" in config:
        config["activation"] = _activation(tfk, config["activation"])
    return cls.from_config(_clean(cls, name, class_name, config))


# Keras 3 activations tf_keras computes the same under the same name (or another one).
_SAME_ACTIVATIONS = {"linear", "relu", "sigmoid", "softmax", "tanh", "elu", "selu", "softplus",
                     "softsign", "exponential", "swish", "mish", "gelu"}
_RENAMED_ACTIVATIONS = {"silu": "swish"}


def _activation(tfk: Any, name: Any) -> Any:
    """A Keras 3 activation as tf_keras reads it: its name, or the name of a function
    registered here for the ones tf_keras lacks (relu6, hard_silu, ...)."""
    if not isinstance(name, str) or name in _SAME_ACTIVATIONS:
        return name
    if name in _RENAMED_ACTIVATIONS:
        return _RENAMED_ACTIVATIONS[name]
    functions = _registered_activations(tfk)
    if name not in functions:
        raise BridgeError(f"activation {name!r} has no tf_keras twin")
    return functions[name]


@functools.cache
def _registered_activations(tfk: Any) -> dict[str, str]:
    """Keras 3's activations that tf_keras lacks, as serializable tf_keras functions (Keras
    3's formulas: hard_sigmoid is relu6(x + 3) / 6, not tf_keras' 0.2 x + 0.5)."""
    import tensorflow as tf

    def relu6(x: Any) -> Any:
        return tf.nn.relu6(x)

    def hard_sigmoid(x: Any) -> Any:
        return tf.nn.relu6(x + 3.0) * (1.0 / 6.0)

    def hard_silu(x: Any) -> Any:
        return x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0)

    def leaky_relu(x: Any) -> Any:
        return tf.nn.leaky_relu(x, alpha=0.2)

    found = {}
    for function in (relu6, hard_sigmoid, hard_silu, leaky_relu):
        registered = tfk.utils.register_keras_serializable(_PACKAGE)(function)
        found[function.__name__] = tfk.utils.get_registered_name(registered)
    found["hard_swish"] = found["hard_silu"]
    return found


def _clean(cls: Any, name: str, class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    # A subclass passes **kwargs on to its bases (BatchNormalization's `renorm`).
    accepted = set(_BASE_LAYER_KEYS)
    for base in cls.__mro__:
        if "__init__" in vars(base):
            accepted |= set(inspect.signature(base.__init__).parameters)
    cleaned: dict[str, Any] = {}
    for key, value in config.items():
        if key.endswith(_INITIALIZER_SUFFIX):
            continue
        if key not in accepted:
            if value in _NEUTRAL:
                continue
            raise BridgeError(f"layer {name!r} ({class_name}): tf_keras has no {key!r} "
                              f"(set to {value!r})")
        cleaned[key] = _plain(value)
    return cleaned


def _plain(value: Any) -> Any:
    """Keras 3's serialized objects as tf_keras reads them: a `DTypePolicy` as its dtype
    name, `{module, class_name, config, registered_name}` as `{class_name, config}`."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy":
            return value["config"]["name"]
        if "class_name" in value and "config" in value:
            return {"class_name": value["class_name"], "config": _plain(value["config"])}
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    return value


def _functional(tfk: Any, config: dict[str, Any]) -> Any:
    entries = config["layers"]
    layers = {entry["name"]: _layer(tfk, entry) for entry in entries}
    produced: dict[tuple[str, int], list[Any]] = {}
    pending = [(entry["name"], index, node) for entry in entries
               for index, node in enumerate(entry.get("inbound_nodes") or [])]
    for entry in entries:
        if entry["class_name"] == "InputLayer":
            produced[(entry["name"], 0)] = [layers[entry["name"]].output]
    # Config order is topological except for a shared layer called again later: repeat
    # until no node can be built.
    while pending:
        waiting = []
        for name, index, node in pending:
            try:
                args = _resolve(node.get("args", []), produced)
                kwargs = _resolve(node.get("kwargs", {}), produced)
            except KeyError:
                waiting.append((name, index, node))
                continue
            outputs = layers[name](*args, **kwargs)
            produced[(name, index)] = list(outputs) if isinstance(outputs, list | tuple) \
                else [outputs]
        if len(waiting) == len(pending):
            raise BridgeError(f"layer {waiting[0][0]!r}: its inputs cannot be resolved")
        pending = waiting
    return tfk.Model(_endpoints(config["input_layers"], produced),
                     _endpoints(config["output_layers"], produced), name=config.get("name"))


def _resolve(value: Any, produced: dict[tuple[str, int], list[Any]]) -> Any:
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            layer, node, tensor = value["config"]["keras_history"]
            return produced[(layer, node)][tensor]
        return {k: _resolve(v, produced) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_resolve(v, produced) for v in value]
    return value


def _endpoints(spec: Any, produced: dict[tuple[str, int], list[Any]]) -> Any:
    # One endpoint is written as [name, node, tensor], several as a list of those.
    if spec and isinstance(spec[0], str):
        return produced[(spec[0], spec[1])][spec[2]]
    return [produced[(name, node)][tensor] for name, node, tensor in spec]


def _copy_weights(model: Any, twin: Any) -> None:
    for layer in model.layers:
        weights = layer.get_weights()
        target = twin.get_layer(layer.name)
        expected = [w.shape for w in target.get_weights()]
        if [w.shape for w in weights] != expected:
            raise BridgeError(
                f"layer {layer.name!r} ({type(layer).__name__}): weights "
                f"{[tuple(w.shape) for w in weights]} do not fit the tf_keras layer's "
                f"{[tuple(s) for s in expected]}"
            )
        if weights:
            target.set_weights(weights)


def _sample(x: Any) -> Any:
    if isinstance(x, dict):
        n = len(next(iter(x.values())))
        index = np.linspace(0, n - 1, min(n, MAX_SAMPLES)).astype(int)
        return {k: np.asarray(v)[index] for k, v in x.items()}
    n = len(x)
    return np.asarray(x)[np.linspace(0, n - 1, min(n, MAX_SAMPLES)).astype(int)]


def _outputs(model: Any, x: Any) -> list[np.ndarray]:
    """The model's outputs on `x`, in batches of `BATCH`: one call on every sample holds
    all their activations at once (10 GB for MobileNetV2 at 224x224 on 100 inputs)."""
    n = len(next(iter(x.values())) if isinstance(x, dict) else x)
    parts: list[list[np.ndarray]] = []
    for start in range(0, n, BATCH):
        chunk = ({k: v[start:start + BATCH] for k, v in x.items()} if isinstance(x, dict)
                 else x[start:start + BATCH])
        out = model(chunk, training=False)
        if isinstance(out, dict):
            out = [out[k] for k in sorted(out)]
        out = out if isinstance(out, list | tuple) else [out]
        parts.append([np.asarray(o) for o in out])
    return [np.concatenate(outputs) for outputs in zip(*parts, strict=True)]
