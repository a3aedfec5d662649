"""Magnitude pruning, measured on the converted `.tflite` kernels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlflow_tflite.compress import CompressionError, compress_model
from mlflow_tflite.compress.prune import schedule_steps
from mlflow_tflite.config.variants import CompressConfig, ConvertConfig
from mlflow_tflite.convert import convert_model
from tests.tflite_weights import kernels
from tests.variant_helpers import PRUNE_ALL, TRAIN

TARGET = 0.6


@pytest.mark.parametrize("total", [1, 2, 3, 9, 10, 22, 99, 100, 1001])
def test_schedule_ends_on_a_mask_update_within_the_fine_tune(total: int) -> None:
    begin, end, frequency = schedule_steps(total)
    assert begin == 0
    assert 1 <= end <= total
    assert (end - begin) % frequency == 0
    assert frequency <= max(1, total // 10)


def test_schedule_rejects_an_empty_fine_tune() -> None:
    with pytest.raises(ValueError, match="pruning needs >= 1 fine-tuning step"):
        schedule_steps(0)


@pytest.fixture(scope="module", params=["polynomial", "constant"])
def pruned(request: pytest.FixtureRequest, baseline: Any, dataset: Any) -> tuple[Any, list[str]]:
    lines: list[str] = []
    cfg = CompressConfig(prune={"schedule": request.param, "final_sparsity": TARGET,
                                "layers": PRUNE_ALL})
    return compress_model(baseline, cfg, dataset, TRAIN, log=lines.append), lines


@pytest.mark.parametrize("quantization", ["none", "int8"])
def test_pruned_kernels_reach_the_target_in_a_short_fine_tune(
    pruned: tuple[Any, list[str]], dataset: Any, quantization: str
) -> None:
    model, _ = pruned
    flatbuffer = convert_model(model, ConvertConfig(quantization=quantization), dataset)
    found = kernels(flatbuffer)
    assert len(found) == 3
    for kernel in found:
        assert kernel.sparsity >= TARGET - 0.02, (kernel.name, kernel.sparsity)


def test_pruning_logs_the_schedule_and_each_epoch(pruned: tuple[Any, list[str]]) -> None:
    _, lines = pruned
    assert any("mask update every 2 until step 22" in line for line in lines)
    epoch = [line for line in lines if line.startswith("prune: epoch 1/1")]
    assert len(epoch) == 1 and "val_accuracy=" in epoch[0] and "sparsity=0.6" in epoch[0]


def test_m_by_n_keeps_m_of_every_n_input_weights(baseline: Any, dataset: Any) -> None:
    lines: list[str] = []
    cfg = CompressConfig(prune={"m_by_n": [2, 4], "layers": PRUNE_ALL})
    model = compress_model(baseline, cfg, dataset, TRAIN, log=lines.append)
    conv, hidden, logits = kernels(convert_model(model, ConvertConfig(), dataset))
    for kernel in (hidden, logits):
        # TFLite kernels are [out, in]: the pattern runs along the input axis.
        groups = kernel.values.reshape(kernel.values.shape[0], -1, 4)
        assert np.count_nonzero(groups, axis=-1).max() <= 2, kernel.name
        assert kernel.sparsity == pytest.approx(0.5, abs=0.01)
    # One input channel cannot hold a 2:4 pattern: the first conv stays dense.
    assert conv.sparsity < 0.1
    assert ("prune: 2 of 3 layers (100% of their weights): dense, logits; kept dense: conv "
            "(fewer than 4 input channels for m_by_n)") in lines


def test_block_size_zeroes_whole_blocks_of_consecutive_inputs(baseline: Any,
                                                               dataset: Any) -> None:
    lines: list[str] = []
    cfg = CompressConfig(prune={"final_sparsity": TARGET, "block_size": [4, 1],
                                "layers": PRUNE_ALL})
    model = compress_model(baseline, cfg, dataset, TRAIN, log=lines.append)
    conv, hidden, logits = kernels(convert_model(model, ConvertConfig(), dataset))
    for kernel in (hidden, logits):
        # Keras [inputs, units] blocks of 4 inputs: in the TFLite [out, in] kernel, runs of
        # 4 contiguous values that are all zero or all kept.
        groups = kernel.values.reshape(kernel.values.shape[0], -1, 4)
        kept = np.count_nonzero(groups, axis=-1)
        assert set(np.unique(kept)) <= {0, 4}, kernel.name
        assert kernel.sparsity == pytest.approx(TARGET, abs=0.03), kernel.name
    # tfmot blocks 2-D kernels only: the convolution is pruned weight by weight.
    assert conv.sparsity == pytest.approx(TARGET, abs=0.05)
    assert any(line.endswith("; blocks 4x1 in dense, logits") for line in lines), lines


def test_recover_epochs_fine_tune_with_the_final_mask_held(baseline: Any, dataset: Any) -> None:
    lines: list[str] = []
    cfg = CompressConfig(prune={"final_sparsity": TARGET, "recover_epochs": 1,
                                "layers": PRUNE_ALL})
    model = compress_model(baseline, cfg, dataset, TRAIN, log=lines.append)
    # 22 steps to reach the target, then one epoch more with the mask held.
    assert any("until step 22, then 1 epochs with the mask held" in line for line in lines)
    epochs = [line for line in lines if line.startswith("prune: epoch ")]
    assert [line.split()[2] for line in epochs] == ["1/2", "2/2"]
    assert all("sparsity=0.6" in line for line in epochs), epochs
    for kernel in kernels(convert_model(model, ConvertConfig(), dataset)):
        assert kernel.sparsity >= TARGET - 0.02, (kernel.name, kernel.sparsity)


def test_m_by_n_without_a_wide_enough_layer_is_refused(dataset: Any) -> None:
    from mlflow_tflite._tf import import_keras

    keras = import_keras()
    narrow = keras.Sequential(
        [keras.layers.Input((8, 8, 1)), keras.layers.Conv2D(4, 3), keras.layers.Flatten()]
    )
    cfg = CompressConfig(prune={"m_by_n": [2, 4], "layers": PRUNE_ALL})
    with pytest.raises(CompressionError, match=r"^prune: no layer left to prune \(conv2d.*: "
                       "fewer than 4 input channels for m_by_n\)$"):
        compress_model(narrow, cfg, dataset, TRAIN, log=lambda line: None)


@pytest.fixture(scope="module")
def mobilenet(dataset: Any) -> Any:
    """The small MobileNetV2 (BatchNorm, depthwise convs, residual adds), trained 1 epoch."""
    from mlflow_tflite.train import compile_baseline
    from mlflow_tflite.train.mobilenet import mobilenet_v2

    model = compile_baseline(mobilenet_v2(dataset.input_shape, dataset.num_classes), 1e-3)
    model.fit(dataset.x_train, dataset.y_train, epochs=1, batch_size=64, verbose=0)
    return model


def _layer(kernel: Any) -> str:
    # Converted tensor names hold the Keras layer: `mobilenet_v2/block2_project/Conv2D`
    # (BatchNorm folded in: `.../block2_depthwise_bn/FusedBatchNormV3;.../block2_depthwise/...`).
    return kernel.name.split(";")[-1].split("/")[1]


def test_the_default_policy_leaves_depthwise_first_conv_and_small_layers_dense(
    mobilenet: Any, dataset: Any
) -> None:
    lines: list[str] = []
    facts: dict[str, Any] = {}
    cfg = CompressConfig(prune={"final_sparsity": TARGET})
    model = compress_model(mobilenet, cfg, dataset, TRAIN, log=lines.append, facts=facts)
    found = {_layer(k): k for k in kernels(convert_model(model, ConvertConfig(
        quantization="int8"), dataset))}
    depthwise = [name for name, k in found.items() if k.op == "DEPTHWISE_CONV_2D"]
    assert len(depthwise) == 6
    # int8 rounds a few tiny weights to zero; pruning would have zeroed 60%.
    for name in [*depthwise, "stem", "block1_project"]:
        assert found[name].sparsity < 0.05, name
    pruned = [c["name"] for c in facts["prune_layers"] if c["pruned"]]
    assert pruned == [name for name in found if "_expand" in name or "_project" in name
                      and name != "block1_project"] + ["head", "logits"]
    for name in pruned:
        assert found[name].sparsity == pytest.approx(TARGET, abs=0.02), name
    reasons = {c["name"]: c["reason"] for c in facts["prune_layers"] if not c["pruned"]}
    assert reasons["stem"] == "first convolution (layers.first_conv: false)"
    assert reasons["block1_project"] == "256 weights < layers.min_weights 1024"
    assert reasons["block3_depthwise"] == "depthwise kernel: tfmot prunes none"
    assert any(line.startswith("prune: 12 of 20 layers (8") for line in lines)


@pytest.mark.parametrize(
    ("policy", "pruned"),
    [
        ({"include": ["project$"]}, {f"block{i}_project" for i in range(2, 7)}),
        ({"include": ["^block6"], "exclude": ["expand"]}, {"block6_project"}),
        ({"min_weights": 8000}, {"block6_project", "head"}),
        ({"first_conv": True, "min_weights": 0, "include": ["stem|block1"]},
         {"stem", "block1_project"}),
    ],
)
def test_include_exclude_and_min_weights_choose_the_layers(
    policy: dict[str, Any], pruned: set[str]
) -> None:
    from mlflow_tflite.compress.prune_layers import LayerPolicy, choose_layers
    from mlflow_tflite.train.mobilenet import mobilenet_v2

    choices = choose_layers(mobilenet_v2((8, 8, 1), 10), LayerPolicy(**policy))
    assert {c.name for c in choices if c.pruned} == pruned


def test_auto_layers_prunes_only_the_layers_whose_drop_fits(baseline: Any, dataset: Any) -> None:
    lines: list[str] = []
    facts: dict[str, Any] = {}
    cfg = CompressConfig(prune={"final_sparsity": 0.7, "layers": PRUNE_ALL,
                                "auto_layers": {"max_accuracy_drop": 0.04}})
    model = compress_model(baseline, cfg, dataset, TRAIN, log=lines.append, facts=facts)
    ranked = {c["name"]: c for c in facts["prune_layers"]}
    assert set(ranked) == {"conv", "dense", "logits"}
    for choice in ranked.values():
        assert choice["pruned"] == (choice["drop"] <= 0.04), choice
        if not choice["pruned"]:
            assert "> auto_layers.max_accuracy_drop 0.04 alone" in choice["reason"]
    assert {c["pruned"] for c in ranked.values()} == {True, False}
    assert any(line.startswith("prune: auto_layers at sparsity 0.7") for line in lines)
    found = {k.name.split("/")[1]: k for k in kernels(convert_model(model, ConvertConfig(),
                                                                      dataset))}
    for name, choice in ranked.items():
        if choice["pruned"]:
            assert found[name].sparsity >= 0.68, name
        else:
            assert found[name].sparsity < 0.05, name


@pytest.mark.parametrize(
    ("prune", "error"),
    [
        ({"layers": {"include": ["("]}},
         "layers.include[0]: '(' is not a regular expression (missing )"),
        ({"layers": {"min_weights": -1}}, "layers.min_weights: Input should be greater than"),
        ({"layers": {"depthwise": True}}, "layers.depthwise: unknown key"),
        ({"auto_layers": {"max_accuracy_drop": 1.5}},
         "auto_layers.max_accuracy_drop: Input should be less than 1"),
    ],
)
def test_bad_layer_policies_name_the_key(prune: dict[str, Any], error: str) -> None:
    from mlflow_tflite.config import ParamsError, parse_params

    raw = {"variants": [{"name": "pruned", "compress": {"prune": prune}}]}
    with pytest.raises(ParamsError) as caught:
        parse_params(raw)
    assert str(caught.value).startswith(f"params: variants[0].compress.prune.{error}")
