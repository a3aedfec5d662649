"""The `promote` section: targets, aliases, objectives; errors name the key path."""

from __future__ import annotations

import pytest

from mlflow_tflite.config import ParamsError, parse_params
from mlflow_tflite.config.promote import PromoteConfig

VARIANTS = [{"name": "fp32", "convert": {"quantization": "none"}}]


def promote(section: dict) -> PromoteConfig:
    return parse_params({"variants": VARIANTS, "promote": section}).promote


@pytest.mark.parametrize(
    ("config", "expected_error"),
    [
        ({"objective": []}, "promote.objective: List should have at least 1 item"),
        ({"objective": ["size_bytes", "speed"]}, "promote.objective[1]: unknown objective 'speed'"),
        (
            {"objective": ["xnnpack/size_bytes"]},
            "promote.objective[0]: objective 'xnnpack/size_bytes': only latency takes a delegate",
        ),
        ({"objective": ["accuracy", "accuracy"]}, "promote.objective: objective lists 'accuracy'"),
        ({"tie_tolerance": 1.5}, "promote.tie_tolerance: Input should be less than 1"),
        ({"constraints": {"max_accuracy_drop": -0.1}}, "promote.constraints.max_accuracy_drop"),
        ({"constraints": {"min_agreement": 1.2}}, "promote.constraints.min_agreement"),
        ({"constraints": {"max_size_bytes": 0}}, "promote.constraints.max_size_bytes"),
        ({"constraints": {"max_latency_ms": 3}}, "promote.constraints.max_latency_ms: unknown key"),
        (
            {"constraints": {"latency_delegate": "xnnpack"}},
            "promote.constraints: latency_delegate needs max_latency_p50_ms",
        ),
        (
            {"constraints": {"max_latency_p50_ms": 2, "latency_delegate": "x/y"}},
            "promote.constraints.latency_delegate: latency_delegate 'x/y'",
        ),
        ({"targets": {"CPU": {}}}, "promote.targets: target name 'CPU'"),
        ({"targets": {"cpu": {"alias": "latest"}}}, "promote.targets.cpu.alias: alias 'latest'"),
        (
            {"targets": {"cpu": {"alias": "v2"}}},
            "promote.targets.cpu.alias: alias 'v2' is reserved",
        ),
        (
            {"targets": {"cpu": {"alias": "prod/cpu"}}},
            "promote.targets.cpu.alias: alias 'prod/cpu'",
        ),
        (
            {"targets": {"cpu": {"objective": ["accuracy", "fps"]}}},
            "promote.targets.cpu.objective[1]: unknown objective 'fps'",
        ),
        (
            {"targets": {"cpu": {"constraints": {"gpu": True}}}},
            "promote.targets.cpu.constraints.gpu: unknown key",
        ),
        (
            {"constraints": {"max_accuracy_drop": 0.01,
                             "gate_on": {"max_latency_vs_fp32": "conservative"}}},
            "promote.constraints: gate_on names 'max_latency_vs_fp32', which this constraints "
            "block does not set; expected one of max_accuracy_drop",
        ),
        (
            {"constraints": {"max_accuracy_drop": 0.01, "gate_on": {"max_accuracy_drop": "low"}}},
            "promote.constraints.gate_on",
        ),
        (
            {"targets": {"cpu": {"alias": "prod"}, "gpu": {"alias": "prod"}}},
            "promote: alias 'prod' is used by target 'cpu' and target 'gpu'",
        ),
        (
            {"targets": {"cpu": {"challenger_alias": "champion-gpu"}, "gpu": {}}},
            "promote: alias 'champion-gpu' is used by target 'cpu' and target 'gpu'",
        ),
    ],
)
def test_invalid_promote_section_names_the_key_path(config: dict, expected_error: str) -> None:
    with pytest.raises(ParamsError) as raised:
        promote(config)
    assert expected_error in str(raised.value)


def test_single_target_uses_champion_and_challenger() -> None:
    (only,) = promote({}).resolved_targets()
    assert (only.name, only.alias, only.challenger_alias) == ("default", "champion", "challenger")
    assert only.constraints.max_accuracy_drop == 0.02


def test_targets_inherit_blocks_they_do_not_set_and_default_their_aliases() -> None:
    config = promote(
        {
            "objective": ["size_bytes"],
            "constraints": {"max_accuracy_drop": 0.01},
            "targets": {
                "cpu": {"objective": ["latency_p50_ms"]},
                "gpu": {"constraints": {"gpu_compatible": True}, "alias": "gpu-prod"},
            },
        }
    )
    cpu, gpu = config.resolved_targets()
    assert (cpu.alias, cpu.challenger_alias, cpu.objective) == (
        "champion-cpu",
        "challenger-cpu",
        ("latency_p50_ms",),
    )
    assert cpu.constraints.max_accuracy_drop == 0.01
    assert (gpu.alias, gpu.challenger_alias, gpu.objective) == (
        "gpu-prod",
        "challenger-gpu",
        ("size_bytes",),
    )
    assert gpu.constraints.gpu_compatible and gpu.constraints.max_accuracy_drop is None
    assert config.target("gpu") is not None
    with pytest.raises(KeyError):
        config.target(None)


def test_delegate_latency_objective_is_accepted() -> None:
    assert promote({"objective": ["xnnpack/latency_p90_ms", "accuracy"]}).objective == [
        "xnnpack/latency_p90_ms",
        "accuracy",
    ]


def test_the_docs_promote_example_is_valid() -> None:
    from pathlib import Path

    import yaml

    page = (Path(__file__).parents[2] / "docs" / "promotion.md").read_text()
    example = page.split("```yaml", 1)[1].split("```", 1)[0]
    config = promote(yaml.safe_load(example)["promote"])
    assert [t.alias for t in config.resolved_targets()] == ["champion-cpu", "gpu-prod"]
