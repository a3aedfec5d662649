"""Recipes: tensor types of every output, representative data, sparse encoding, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from mlflow_tflite.compress import compress_model
from mlflow_tflite.config.variants import CompressConfig, ConvertConfig, VariantConfig
from mlflow_tflite.convert import ConversionError, convert_model
from mlflow_tflite.convert.representative import representative_dataset
from mlflow_tflite.litert import TFLiteRunner
from tests.tflite_weights import activation_dtypes, io_dtypes, kernels
from tests.variant_helpers import TRAIN

# quantization, io_type -> input/output dtype, kernel dtypes (conv, dense 288x64, dense 64x10),
# dtypes of computed tensors.
EXPECTED = [
    ("none", "float32", "float32", ["float32"] * 3, {"float32"}),
    # Dynamic range quantizes kernels of >= 1,024 weights; the small ones stay float.
    ("dynamic", "float32", "float32", ["float32", "int8", "float32"], {"float32"}),
    ("float16", "float32", "float32", ["float16"] * 3, {"float32"}),
    ("int8", "int8", "int8", ["int8"] * 3, {"int8"}),
    ("int8", "uint8", "uint8", ["int8"] * 3, {"int8", "uint8"}),
    ("int8", "float32", "float32", ["int8"] * 3, {"int8"}),
    ("int16x8", "float32", "float32", ["int8"] * 3, {"int16"}),
]


@pytest.mark.parametrize(("quantization", "io_type", "io", "weights", "computed"), EXPECTED)
def test_each_recipe_gives_its_tensor_types(
    baseline: Any,
    dataset: Any,
    quantization: str,
    io_type: str,
    io: str,
    weights: list[str],
    computed: set[str],
) -> None:
    cfg = ConvertConfig(quantization=quantization, io_type=io_type)
    flatbuffer = convert_model(baseline, cfg, dataset)
    assert io_dtypes(flatbuffer) == ([io], [io])
    assert [k.dtype for k in kernels(flatbuffer)] == weights
    # Quantize/dequantize at the float edges of an int model compute float32 tensors.
    assert activation_dtypes(flatbuffer) <= computed | {"float32"}
    assert computed <= activation_dtypes(flatbuffer)
    # Every recipe still classifies: top-1 agrees with Keras on most test digits.
    expected = baseline.predict(dataset.x_test, verbose=0).argmax(1)
    got = TFLiteRunner(flatbuffer).predict([dataset.x_test])[0].argmax(1)
    assert np.mean(got == expected) > 0.9


def test_representative_samples_are_spread_over_the_split() -> None:
    samples = np.arange(100, dtype=np.float32).reshape(100, 1)
    batches = list(representative_dataset(samples, 5)())
    assert [float(b[0][0, 0]) for b in batches] == [0.0, 25.0, 50.0, 74.0, 99.0]
    assert all(b[0].shape == (1, 1) and b[0].dtype == np.float32 for b in batches)
    assert len(list(representative_dataset(samples, 1000)())) == 100


def test_representative_accepts_a_dataset_or_its_arrays(baseline: Any, dataset: Any) -> None:
    cfg = ConvertConfig(quantization="int8", representative_samples=20)
    from_dataset = convert_model(baseline, cfg, dataset)
    from_array = convert_model(baseline, cfg, dataset.x_train)
    from_list = convert_model(baseline, cfg, [dataset.x_train])
    assert from_dataset == from_array == from_list


@pytest.mark.parametrize("quantization", ["int8", "int16x8"])
def test_calibrated_recipes_need_representative_samples(baseline: Any, quantization: str) -> None:
    with pytest.raises(ConversionError, match=f"quantization {quantization} needs representative"):
        convert_model(baseline, ConvertConfig(quantization=quantization), None)


@pytest.fixture(scope="module")
def pruned(baseline: Any, dataset: Any) -> Any:
    cfg = CompressConfig(prune={"final_sparsity": 0.75})
    return compress_model(baseline, cfg, dataset, TRAIN, log=lambda line: None)


@pytest.mark.parametrize("quantization", ["none", "int8"])
def test_sparse_conversion_encodes_pruned_kernels_and_predicts_the_same(
    pruned: Any, dataset: Any, quantization: str
) -> None:
    cfg = ConvertConfig(quantization=quantization)
    dense = convert_model(pruned, cfg, dataset)
    sparse = convert_model(pruned, cfg, dataset, sparse=True)
    assert not any(k.sparse for k in kernels(dense))
    assert any(k.sparse for k in kernels(sparse))
    if quantization == "none":
        # float32 index arrays cost less than the zeros they drop at 75% sparsity
        assert len(sparse) < len(dense)
    a = TFLiteRunner(dense, delegate="builtin").predict([dataset.x_test])[0]
    b = TFLiteRunner(sparse, delegate="builtin").predict([dataset.x_test])[0]
    assert np.mean(a.argmax(1) == b.argmax(1)) > 0.99


def test_converter_failures_are_one_line(dataset: Any) -> None:
    from mlflow_tflite._tf import import_keras, import_tensorflow

    keras, tf = import_keras(), import_tensorflow()
    model = keras.Sequential(
        [keras.layers.Input((8, 8, 1)), keras.layers.Lambda(tf.math.cumsum), keras.layers.Flatten()]
    )
    with pytest.raises(ConversionError) as caught:
        convert_model(model, ConvertConfig(quantization="int16x8"), dataset)
    message = str(caught.value)
    assert message == (
        "int16x8 conversion failed: Quantization to 16x8-bit not yet supported for op: 'CUMSUM'."
    )


def test_converter_chatter_stays_off_stdout(
    baseline: Any, dataset: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    convert_model(baseline, ConvertConfig(quantization="int8", io_type="int8"), dataset)
    assert capfd.readouterr().out == ""


@pytest.mark.parametrize(
    ("config", "expected_error"),
    [
        ({"quantization": "dynamic", "io_type": "int8"}, "io_type int8 needs quantization int8"),
        ({"quantization": "int4"}, "quantization"),
        ({"quantization": "int8", "representative_samples": 0}, "representative_samples"),
    ],
)
def test_invalid_recipes_are_rejected(config: dict, expected_error: str) -> None:
    with pytest.raises(ValidationError, match=expected_error):
        ConvertConfig(**config)


@pytest.mark.parametrize("quantization", ["none", "dynamic", "float16", "int16x8"])
def test_qat_variants_must_convert_to_int8(quantization: str) -> None:
    with pytest.raises(ValidationError, match="compress.qat needs convert.quantization int8"):
        VariantConfig(name="qat", compress={"qat": {}}, convert={"quantization": quantization})
