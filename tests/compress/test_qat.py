"""QAT and the collaborative schemes: sparsity and clusters survive into the int8 kernels."""

from __future__ import annotations

from typing import Any

import pytest

from mlflow_tflite.compress import compress_model
from mlflow_tflite.compress.qat import scheme_name
from mlflow_tflite.config.variants import CompressConfig, ConvertConfig
from mlflow_tflite.convert import convert_model
from tests.tflite_weights import io_dtypes, kernels
from tests.variant_helpers import PRUNE_ALL, TRAIN

SPARSITY = 0.5
CLUSTERS = 8
INT8 = ConvertConfig(quantization="int8", io_type="int8")


@pytest.mark.parametrize(
    ("applied", "scheme"),
    [([], "qat"), (["prune"], "pqat"), (["cluster"], "cqat"), (["prune", "cluster"], "pcqat")],
)
def test_the_scheme_follows_the_earlier_steps(applied: list[str], scheme: str) -> None:
    assert scheme_name(applied) == scheme


def _int8_kernels(baseline: Any, dataset: Any, config: dict, lines: list[str]) -> list[Any]:
    model = compress_model(baseline, CompressConfig(**config), dataset, TRAIN, log=lines.append)
    flatbuffer = convert_model(model, INT8, dataset)
    assert io_dtypes(flatbuffer) == (["int8"], ["int8"])
    found = kernels(flatbuffer)
    assert [k.dtype for k in found] == ["int8"] * 3
    return found


def test_qat_gives_an_int8_model(baseline: Any, dataset: Any) -> None:
    lines: list[str] = []
    _int8_kernels(baseline, dataset, {"qat": {}}, lines)
    assert lines[0] == "qat: QAT fine-tune at learning rate 0.0001"
    assert lines[1].startswith("qat: epoch 1/1 loss=")


def test_pqat_keeps_the_sparsity_in_int8_kernels(baseline: Any, dataset: Any) -> None:
    config = {"prune": {"final_sparsity": SPARSITY, "layers": PRUNE_ALL}, "qat": {}}
    for kernel in _int8_kernels(baseline, dataset, config, []):
        assert kernel.sparsity >= SPARSITY - 0.02, kernel.name


def test_cqat_keeps_the_clusters_in_int8_kernels(baseline: Any, dataset: Any) -> None:
    # int8 conv kernels are quantized per output channel, so one centroid becomes one
    # value per channel: the count holds per channel.
    for kernel in _int8_kernels(
        baseline, dataset, {"cluster": {"clusters": CLUSTERS}, "qat": {}}, []
    ):
        assert kernel.max_unique_per_channel() <= CLUSTERS, kernel.name


def test_pcqat_keeps_sparsity_and_clusters_in_int8_kernels(baseline: Any, dataset: Any) -> None:
    config = {
        "prune": {"final_sparsity": SPARSITY, "layers": PRUNE_ALL},
        "cluster": {"clusters": CLUSTERS},
        "qat": {},
    }
    lines: list[str] = []
    for kernel in _int8_kernels(baseline, dataset, config, lines):
        assert kernel.sparsity >= SPARSITY - 0.02, kernel.name
        assert kernel.max_unique_per_channel() <= CLUSTERS, kernel.name
    assert "qat: PCQAT fine-tune at learning rate 0.0001" in lines


def test_qat_of_a_softmax_model_trains_on_probabilities(baseline: Any, dataset: Any) -> None:
    # Quantize wrappers hide the final softmax; the loss must still be told it sees probabilities.
    import warnings

    from mlflow_tflite._tf import import_keras

    keras = import_keras()
    config = baseline.get_config()
    config["layers"][-1]["config"]["activation"] = "softmax"
    softmax = keras.Sequential.from_config(config)
    softmax.set_weights(baseline.get_weights())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compress_model(softmax, CompressConfig(qat={}), dataset, TRAIN, log=lambda line: None)
    assert not [w for w in caught if "from_logits=True" in str(w.message)]
