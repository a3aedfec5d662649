"""params.yaml validation: every key checked before work, errors name the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_tflite.config import ParamsError, load_params
from mlflow_tflite.config.overrides import apply_overrides

ROOT_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def test_shipped_params_validate_with_the_variants_the_flow_promises() -> None:
    params = load_params(ROOT_PARAMS)
    names = {variant.name: variant for variant in params.variants}
    assert {"fp32", "dynamic", "float16", "int8", "int16x8"} <= set(names)
    techniques = {variant.technique for variant in params.variants}
    assert {"prune", "cluster", "qat", "prune+cluster+qat"} <= techniques
    assert all(
        v.convert.quantization != "none" for v in params.variants if v.technique != "none"
    )
    assert names["pruned-int4"].convert.quantization == "int4_weight_only"


def test_overrides_use_dotted_paths_with_list_indices() -> None:
    params = load_params(
        ROOT_PARAMS,
        ["train.epochs=3", "variants.2.convert.quantization=int8", "data.source=digits"],
    )
    assert params.train.epochs == 3
    assert params.variants[2].convert.quantization == "int8"
    assert params.data.source == "digits"


def test_technique_tag_joins_steps_in_the_order_applied() -> None:
    params = load_params(ROOT_PARAMS)
    assert params.variant("pcqat-int8").technique == "prune+cluster+qat"
    assert params.variant("fp32").technique == "none"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "variants.5.compress.prune.final_sparsity=1.2",
            "variants[5].compress.prune.final_sparsity: Input should be less than 1",
        ),
        ("variants.6.compress.cluster.clusters=1", "variants[6].compress.cluster.clusters"),
        ("variants.2.convert.quantization=int4", "variants[2].convert.quantization: expected"),
        ("train.epochs=-1", "train.epochs: Input should be greater than or equal to 0"),
        ("train.bogus=1", "train.bogus: unknown key"),
        ("variants.0.compress.distill={}", "variants[0].compress.distill: unknown key"),
        ("variants.1.convert.io_type=int8", "io_type int8 needs quantization int8"),
        ("benchmark.delegates=[gpu]", "unknown delegate 'gpu'"),
        ("benchmark.delegates=[builtin]", "primary_delegate 'xnnpack' must be one of"),
        ("variants.1.name=fp32", "duplicate variant name 'fp32'"),
        ("variants.0.name=has space", "variants[0].name: name must be letters"),
        ("data.test_fraction=0.85", "validation_fraction + test_fraction must be < 0.9"),
        (
            "variants.5.compress.prune.initial_sparsity=0.9",
            "initial_sparsity (0.9) must be <= final_sparsity",
        ),
        ("variants.5.compress.prune.m_by_n=[4, 2]", "m_by_n must satisfy 0 < m < n"),
        ("variants.5.compress.prune.block_size=[0, 4]", "block_size must be >= 1 each"),
        ("variants.5.compress.prune.recover_epochs=-1",
         "recover_epochs: Input should be greater than or equal to 0"),
        ("variants.99.name=x", "no list item variants.99"),
        ("train.epochs", "expected KEY=VALUE"),
        ("runner.type=kubernetes", "runner.type: expected 'threads', 'processes' or 'dask'"),
        ("runner.workers=0", "runner.workers: Input should be greater than or equal to 1"),
        ("runner.address=tcp://127.0.0.1:8786", "runner: address is only used with type dask"),
        ("runner.bogus=1", "runner.bogus: unknown key"),
    ],
)
def test_invalid_values_name_the_key_path(override: str, expected: str) -> None:
    with pytest.raises(ParamsError) as error:
        load_params(ROOT_PARAMS, [override])
    message = str(error.value)
    assert expected in message
    assert "\n" not in message
    assert message.startswith(str(ROOT_PARAMS))


def test_the_shipped_search_judges_accuracy_on_its_interval_and_run_on_estimates() -> None:
    """The search keeps the smallest of many trials, so its accuracy gate judges the
    interval's low end; `run`'s few listed variants are judged on their estimates."""
    params = load_params(ROOT_PARAMS)
    judged = {g.gate.key: params.search.constraints.judged_on(g)
              for g in params.search.constraints.gates()}
    assert judged == {"max_accuracy_drop": "conservative", "max_latency_vs_fp32": "point"}
    assert params.promote.constraints.gate_on == "point"
    point = load_params(ROOT_PARAMS, ["search.constraints.gate_on=point"])
    assert point.search.constraints.gate_on == "point"


def test_the_runner_defaults_to_threads_and_takes_a_dask_scheduler_address() -> None:
    assert load_params(ROOT_PARAMS).runner.type == "threads"
    params = load_params(ROOT_PARAMS, ["runner.type=dask", "runner.address=tcp://10.0.0.5:8786"])
    assert (params.runner.type, params.runner.address) == ("dask", "tcp://10.0.0.5:8786")
    with pytest.raises(ParamsError, match=r"runner: address 'scheduler:8786': expected a"):
        load_params(ROOT_PARAMS, ["runner.type=dask", "runner.address=scheduler:8786"])


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "params.yaml"
    broken.write_text("train:\n  epochs: [1\n")
    with pytest.raises(ParamsError, match=r"not valid YAML at line \d+"):
        load_params(broken)


def test_a_params_file_needs_at_least_one_variant(tmp_path: Path) -> None:
    empty = tmp_path / "params.yaml"
    empty.write_text("train: {epochs: 1}\n")
    with pytest.raises(ParamsError, match="variants: List should have at least 1 item"):
        load_params(empty)


def test_overrides_do_not_modify_the_loaded_mapping() -> None:
    raw = {"train": {"epochs": 1}}
    changed = apply_overrides(raw, ["train.epochs=5", "train.seed=3"])
    assert raw == {"train": {"epochs": 1}}
    assert changed == {"train": {"epochs": 5, "seed": 3}}
