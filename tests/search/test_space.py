"""search.space: parsed into Optuna suggestions, refused with the key path before any work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from mlflow_tflite.checks import check_search, load_checked_params
from mlflow_tflite.compress.cluster import max_clusters
from mlflow_tflite.compress.prune import PruneConfig
from mlflow_tflite.config import ParamsError
from mlflow_tflite.search.space import parse_space, sample_variant

ROOT_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def _params_file(tmp_path: Path, search: dict[str, Any], model: str = "builtin") -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({
        "train": {"model": model},
        "variants": [{"name": "fp32"}],
        "search": search,
    }))
    return path


@pytest.mark.parametrize(("space", "expected"), [
    ({"prune": {"final_sparsity": {"low": 0.9, "high": 0.5}}},
     "search.space.prune.final_sparsity: low 0.9 > high 0.5"),
    ({}, "search.space: empty; give at least one key a range or several choices"),
    ({"prune": {"final_sparsity": 0.8}}, "search.space: empty"),
    ({"prune": {"sparsity": {"low": 0.5, "high": 0.9}}},
     "search.space.prune.sparsity: unknown key; expected one of use, schedule,"),
    ({"distill": {"epochs": {"low": 1, "high": 2}}},
     "search.space.distill: unknown block; expected one of prune, cluster, qat, convert"),
    ({"convert": {"quantization": {"choices": ["int8", "int3"]}}},
     "search.space.convert.quantization: Input should be"),
    ({"prune": {"final_sparsity": {"low": 0.5, "high": 1.5}}},
     "search.space.prune.final_sparsity: Input should be less than 1 (got 1.5)"),
    ({"cluster": {"clusters": {"choices": []}}},
     "search.space.cluster.clusters.choices: expected a non-empty list"),
    ({"qat": {"use": {"low": 0, "high": 1}}},
     "search.space.qat.use: use takes true, false or {choices: [true, false]}"),
    ({"cluster": {"clusters": {"min": 2, "max": 8}}},
     "search.space.cluster.clusters: expected a value, {choices: [...]} or {low, high"),
])
def test_a_bad_space_is_one_line_naming_the_key_path(
    tmp_path: Path, space: dict[str, Any], expected: str
) -> None:
    path = _params_file(tmp_path, {"space": space})
    with pytest.raises(ParamsError) as error:
        check_search(load_checked_params(path), path)
    message = str(error.value)
    assert message.startswith(f"{path}: {expected}"), message
    assert "\n" not in message


def _flatbuffer_header(tmp_path: Path) -> str:
    model = tmp_path / "model.tflite"
    model.write_bytes(b"\x00" * 4 + b"TFL3" + b"\x00" * 24)  # a flatbuffer's header
    return str(model)


def test_a_tflite_baseline_narrows_a_general_space_and_says_what_it_dropped(
    tmp_path: Path
) -> None:
    from mlflow_tflite.checks import search_note

    # A general space (the shipped one is int8 prune+cluster only, nothing a .tflite takes).
    general = {"space": {
        "prune": {"use": {"choices": [True, False]}, "final_sparsity": {"low": 0.6, "high": 0.95}},
        "cluster": {"use": {"choices": [True, False]}, "clusters": {"low": 4, "high": 16}},
        "qat": {"use": {"choices": [False, True]}},
        "convert": {"quantization": {"choices": ["int8", "int4_weight_only", "dynamic",
                                                 "float16"]},
                    "io_type": {"choices": ["int8", "float32"]},
                    "sparsity_optimization": {"choices": [False, True]}}}}
    path = _params_file(tmp_path, {**general, "enabled": True}, _flatbuffer_header(tmp_path))
    params = load_checked_params(path)
    assert search_note(params) == (
        "search.space: train.model is a .tflite file: dropped prune, cluster, qat (TFMOT "
        "needs a tf_keras model) and convert.quantization int8, dynamic, float16 (the TFLite "
        "converter needs a Keras model or a SavedModel)")
    space = check_search(params, path)
    assert list(space.blocks) == ["convert"]
    assert space.blocks["convert"]["quantization"].choices == ("int4_weight_only",)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        trial = study.ask()
        variant, _ = sample_variant(trial, space, f"trial-{trial.number}")
        assert (variant.technique, variant.convert.quantization) == ("none", "int4_weight_only")


def test_a_space_with_nothing_the_baseline_can_take_is_refused_only_when_searched(
    tmp_path: Path
) -> None:
    space = {"prune": {"final_sparsity": {"low": 0.5, "high": 0.9}}}
    model = _flatbuffer_header(tmp_path)
    load_checked_params(_params_file(tmp_path, {"space": space}, model))  # run: not searched
    path = _params_file(tmp_path, {"enabled": True, "space": space}, model)
    with pytest.raises(ParamsError) as error:
        load_checked_params(path)
    assert str(error.value) == (
        f"{path}: search.space: train.model is a .tflite file: dropped prune (TFMOT needs a "
        "tf_keras model); nothing is left to search")


def test_the_shipped_space_parses_and_every_sample_is_a_valid_variant() -> None:
    params = load_checked_params(ROOT_PARAMS)
    space = check_search(params, ROOT_PARAMS)
    study = optuna.create_study(directions=["minimize", "maximize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(40):
        trial = study.ask()
        variant, sampled = sample_variant(trial, space, f"trial-{trial.number}", [288, 18432])
        seen.add(variant.technique)
        assert sampled == trial.params
        if variant.compress.qat is not None:
            assert variant.convert.quantization == "int8"
        if variant.convert.quantization != "int8":
            assert variant.convert.io_type == "float32"
        if variant.compress.prune and variant.compress.cluster:
            assert variant.compress.cluster.preserve_sparsity
            assert variant.compress.cluster.clusters <= max_clusters(
                "clusters", {"prune": variant.compress.prune}, [288, 18432])
        study.tell(trial, [1.0, 0.5])
    # The shipped space is where small int8 models XNNPACK runs live: prune and cluster
    # always, QAT or not.
    assert seen == {"prune+cluster", "prune+cluster+qat"}


def test_clusters_are_capped_below_the_weights_a_pruned_kernel_keeps() -> None:
    # 288 weights at 95% sparsity keep 14: at most 13 clusters.
    def cap(sizes: list[int], **prune: Any) -> int | None:
        return max_clusters("clusters", {"prune": PruneConfig(**prune)}, sizes)

    assert cap([288, 18432], final_sparsity=0.95) == 13
    # m_by_n: the pattern's zeros, whatever final_sparsity says (PruneConfig.target_sparsity).
    assert cap([288], final_sparsity=0.2, m_by_n=[2, 4]) == 143
    assert cap([10], final_sparsity=0.95) == 2
    assert cap([288], final_sparsity=0.95, m_by_n=[2, 4]) == 143
    # Without a prune step, or for another key, there is no cap.
    assert max_clusters("clusters", {}, [288]) is None
    assert max_clusters("epochs", {"prune": PruneConfig()}, [288]) is None


def test_list_choices_travel_through_optuna_as_json() -> None:
    space = parse_space({"prune": {"m_by_n": {"choices": [None, [2, 4]]},
                                   "final_sparsity": 0.5}})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    found = set()
    for _ in range(8):
        trial = study.ask()
        variant, _ = sample_variant(trial, space, "t")
        found.add(variant.compress.prune.m_by_n)
        study.tell(trial, 0.0)
    assert found == {None, (2, 4)}


def test_the_listed_variants_in_the_space_are_the_warm_start_and_sample_back_exactly() -> None:
    from mlflow_tflite.config import load_params
    from mlflow_tflite.search.warm_start import warm_start

    params = load_params(ROOT_PARAMS)
    space = parse_space({
        "prune": {"final_sparsity": {"low": 0.6, "high": 0.95}, "epochs": {"low": 2, "high": 5}},
        "cluster": {"clusters": {"low": 4, "high": 16}, "epochs": {"low": 1, "high": 3}},
        "qat": {"use": {"choices": [False, True]}},
        "convert": {"quantization": "int8", "io_type": "int8",
                    "sparsity_optimization": {"choices": [False, True]}},
    })
    starts = warm_start(space, params.variants)
    # Prune and cluster are always on and the scheme is int8: only these two lie in it.
    assert list(starts) == ["pruned-clustered-int8", "pcqat-int8"]
    study = optuna.create_study()
    for values in starts.values():
        study.enqueue_trial(values)
    for name in starts:
        variant, _ = sample_variant(study.ask(), space, name)
        listed = params.variant(name)
        assert variant.compress == listed.compress and variant.convert == listed.convert


def test_which_layers_are_pruned_is_a_dimension_of_the_space() -> None:
    space = parse_space({"prune": {
        "final_sparsity": 0.8,
        "layers": {"choices": [{}, {"first_conv": True, "min_weights": 0},
                               {"exclude": ["^block_1"]}]},
        "auto_layers": {"choices": [None, {"max_accuracy_drop": 0.05}]},
    }})
    assert space.blocks["prune"]["layers"].kind == "choice"
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    policies = set()
    for _ in range(12):
        trial = study.ask()
        variant, sampled = sample_variant(trial, space, f"trial-{trial.number}")
        policies.add((variant.compress.prune.layers.model_dump_json(),
                      variant.compress.prune.auto_layers is not None))
        assert isinstance(sampled["prune.layers"], str)  # a JSON token in the study
        study.tell(trial, 1.0)
    assert len({layers for layers, _ in policies}) == 3 and {a for _, a in policies} == {
        True, False}
    # A mapping without `choices` is the one policy every trial uses.
    fixed = parse_space({"prune": {"final_sparsity": {"low": 0.5, "high": 0.9},
                                   "layers": {"min_weights": 4096}}})
    assert fixed.blocks["prune"]["layers"].kind == "fixed"


def test_a_bad_layer_policy_in_the_space_names_its_key_path() -> None:
    from mlflow_tflite.search.space import SpaceError

    with pytest.raises(SpaceError, match=r"^search\.space\.prune\.layers: .*regular expression"):
        parse_space({"prune": {"final_sparsity": {"low": 0.5, "high": 0.9},
                               "layers": {"choices": [{}, {"exclude": ["(unclosed"]}]}}})
