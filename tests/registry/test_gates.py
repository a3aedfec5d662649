"""The gates in front of the registry: a chance-level baseline, a byte-identical winner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow import MlflowClient

from mlflow_tflite.config.promote import PromoteConfig
from mlflow_tflite.registry import promote_flow_run
from mlflow_tflite.registry.gates import (
    BASELINE_METRIC,
    CHANCE_METRIC,
    WARNING_TAG,
    chance_accuracy,
    chance_warning,
)
from tests.registry.flowruns import metrics


def test_chance_is_one_over_the_classes_or_the_majority_share():
    assert chance_accuracy(np.arange(100) % 10, 10) == pytest.approx(0.1)
    assert chance_accuracy(np.array([0] * 8 + [1] * 2), 2) == pytest.approx(0.8)
    assert chance_accuracy(None, 10) is None


@pytest.mark.parametrize(("accuracy", "gated"), [(0.117, True), (0.15, True), (0.151, False),
                                                 (0.96, False)])
def test_a_baseline_within_the_margin_of_chance_is_chance_level(accuracy: float, gated: bool):
    warning = chance_warning(accuracy, 0.1, margin=0.05)
    assert (warning is not None) == gated
    if gated:
        assert warning.startswith(f"the baseline's test accuracy {accuracy:.4f} is at chance "
                                  "level (chance 0.1000 + margin 0.05)")


def _with_baseline(run_id: str, accuracy: float, chance: float = 0.1) -> str:
    client = MlflowClient()
    client.log_metric(run_id, BASELINE_METRIC, accuracy)
    client.log_metric(run_id, CHANCE_METRIC, chance)
    return run_id


def test_promotion_refuses_a_chance_level_baseline_unless_allowed(sqlite_uri, flow, model_name):
    parent = _with_baseline(flow({"int8": metrics()}), accuracy=0.117)
    client = MlflowClient()

    decision = promote_flow_run(parent, model_name, PromoteConfig())
    assert decision.refused and decision.targets == []
    assert "Nothing promoted, no alias moved: the baseline's test accuracy 0.1170 is at " \
           "chance level" in decision.summary
    assert "set promote.allow_chance_baseline: true" in decision.summary
    assert client.search_model_versions(f"name = '{model_name}'") == []

    allowed = promote_flow_run(parent, model_name, PromoteConfig(allow_chance_baseline=True))
    assert allowed.target().outcome == "promoted"
    assert str(client.get_model_version_by_alias(model_name, "champion").version) == "1"


def test_a_winner_byte_identical_to_the_champion_registers_nothing_and_moves_no_alias(
    sqlite_uri, flow, model_name
):
    client = MlflowClient()
    first = flow({"int8": metrics()}, same_bytes=True)
    assert promote_flow_run(first, model_name, PromoteConfig()).target().outcome == "promoted"

    # A rerun: the same bytes, measured a little faster this time.
    again = flow({"int8": metrics(latency_p50_ms=0.5)}, same_bytes=True)
    decision = promote_flow_run(again, model_name, PromoteConfig())
    target = decision.target()
    assert target.outcome == "identical" and target.version == "1"
    assert "its .tflite is byte-identical to version 1 (sha256 " in decision.summary
    assert "no new version is registered and no alias moved (champion stays on version 1)" \
        in decision.summary
    assert [str(v.version) for v in client.search_model_versions(f"name = '{model_name}'")] == ["1"]
    assert str(client.get_model_version_by_alias(model_name, "champion").version) == "1"


@pytest.mark.slow
def test_zero_epochs_with_the_builtin_model_warns_and_promotes_nothing(tmp_path: Path):
    from mlflow_tflite.tracking.layout import FLOW_ROLE, ROLE_TAG
    from tests.cli.faults import run_command
    from tests.flows.conftest import TINY_PARAMS

    params = {**TINY_PARAMS, "train": {**TINY_PARAMS["train"], "epochs": 0},
              "variants": TINY_PARAMS["variants"][:1],
              "benchmark": {**TINY_PARAMS["benchmark"], "cold_start": False}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    outcome = run_command(["run", "--params", "params.yaml"], tmp_path)
    assert outcome.status == 0, outcome.lines[-20:]
    warning = next(line for line in outcome.lines if line.startswith("WARNING: the baseline"))
    assert "is at chance level" in warning
    promotion = next(line for line in outcome.lines if line.startswith("Promotion: "))
    assert "Nothing promoted, no alias moved" in promotion
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    [parent] = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        f"tags.`{ROLE_TAG}` = '{FLOW_ROLE}'")
    assert parent.data.tags[WARNING_TAG] == warning.removeprefix("WARNING: ")
    assert client.search_registered_models() == []
