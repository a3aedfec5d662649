"""keep_float and auto_keep_float: ops left in float, found by regex or by sensitivity."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlflow_tflite import checks
from mlflow_tflite._tf import import_keras
from mlflow_tflite.config import ParamsError
from mlflow_tflite.config.variants import ConvertConfig
from mlflow_tflite.convert import ConversionError, convert_variant
from mlflow_tflite.convert.facts import model_facts
from mlflow_tflite.measure import predict_outputs
from mlflow_tflite.measure.quality import accuracy
from mlflow_tflite.pipeline import handles
from tests.tflite_weights import kernels


@pytest.fixture(scope="module")
def fragile_model(dataset: Any) -> Any:
    """Flatten -> Dense(64) `fragile` -> Dense(10), trained; then every row of `fragile`
    gets a weight 200x its largest on input pixel 0, which is 0 in every digit image.

    The float model computes the same function, but one int4 scale per output channel
    now spans the outlier, so every other weight of `fragile` rounds to zero in int4 and
    in int8: the one deliberately sensitive layer.
    """
    assert not dataset.x_train[..., 0, 0, 0].any()
    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Input((8, 8, 1), name="image"),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu", name="fragile"),
        keras.layers.Dense(10, name="logits"),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(dataset.x_train, dataset.y_train, epochs=3, batch_size=64, verbose=0)
    kernel, bias = model.get_layer("fragile").get_weights()
    kernel[0, :] = 200 * np.abs(kernel).max()
    model.get_layer("fragile").set_weights([kernel, bias])
    return model


def _accuracy(flatbuffer: bytes, dataset: Any) -> float:
    return accuracy(predict_outputs(flatbuffer, dataset.x_val, delegate="builtin"), dataset.y_val)


@pytest.mark.parametrize(
    ("quantization", "stored"), [("int4_weight_only", "int4"), ("int8", "int8")]
)
def test_auto_keep_float_keeps_the_sensitive_layer_in_float(
    fragile_model: Any, dataset: Any, quantization: str, stored: str
):
    plain = convert_variant(fragile_model, ConvertConfig(quantization=quantization), dataset)
    floating = convert_variant(fragile_model, ConvertConfig(quantization="none"), dataset)
    assert _accuracy(floating.flatbuffer, dataset) - _accuracy(plain.flatbuffer, dataset) > 0.2

    cfg = ConvertConfig(
        quantization=quantization,
        auto_keep_float={"max_accuracy_drop": 0.02, "max_layers": 2},
    )
    conversion = convert_variant(fragile_model, cfg, dataset)
    assert len(conversion.auto_kept) == 1 and "fragile" in conversion.auto_kept[0]
    assert conversion.float_ops == conversion.auto_kept
    drop = _accuracy(floating.flatbuffer, dataset) - _accuracy(conversion.flatbuffer, dataset)
    assert drop <= 0.02
    # The kept layer's kernel is float32 again, the other stays quantized; the cost is reported.
    assert kernels(conversion.flatbuffer)[0].dtype == "float32"
    assert stored in model_facts(conversion.flatbuffer).weight_types
    assert conversion.keep_float_size_bytes == len(conversion.flatbuffer) - len(plain.flatbuffer)
    # 64x64 float32 weights in place of 8 or 4 bits each.
    assert conversion.keep_float_size_bytes > 64 * 64 * 2
    meta = conversion.metadata()["keep_float"]
    assert meta["auto"] == conversion.auto_kept and meta["size_bytes"] > 0


@pytest.mark.parametrize("quantization", ["int8", "int4_weight_only"])
def test_keep_float_leaves_the_matching_op_in_float(
    baseline: Any, dataset: Any, quantization: str
) -> None:
    cfg = ConvertConfig(quantization=quantization, keep_float=["logits"])
    conversion = convert_variant(baseline, cfg, dataset)
    dtypes = [k.dtype for k in kernels(conversion.flatbuffer)]
    assert dtypes[-1] == "float32" and "float32" not in dtypes[:-1]
    assert conversion.float_ops == ["StatefulPartitionedCall:0;"]
    assert conversion.keep_float_size_bytes > 0


def test_a_keep_float_regex_matching_nothing_fails_before_quantizing(
    baseline: Any, dataset: Any
) -> None:
    cfg = ConvertConfig(quantization="int4_weight_only", keep_float=["attention"])
    with pytest.raises(ConversionError) as caught:
        convert_variant(baseline, cfg, dataset)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("convert.keep_float: 'attention' matches no op of the float model")
    assert "/dense/MatMul" in message


def test_the_pipeline_checks_keep_float_on_the_baseline_before_any_variant() -> None:
    from mlflow_tflite.config import parse_params

    params = parse_params({"variants": [
        {"name": "a", "convert": {"quantization": "int8", "keep_float": ["dense"]}},
        {"name": "b", "convert": {"quantization": "int8", "keep_float": ["attention"]}},
    ]})
    op = {"op": "FULLY_CONNECTED", "outputs": ["model/dense/MatMul"], "weights": ["w"]}
    baseline = handles.Baseline("k", "/nowhere", 0.9, 1, {}, False, float_ops=(op,))
    with pytest.raises(ParamsError, match=r"^params.yaml: variants\[1\]\.convert\.keep_float: "
                       "'attention' matches no op"):
        checks.check_keep_float(params, baseline, "params.yaml")
