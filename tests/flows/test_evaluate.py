"""A user `evaluate` function through a real flow run: logged, tabled, and gating promotion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.flows.conftest import TINY_PARAMS, child_runs, module_workspace

pytestmark = pytest.mark.slow

USER = "tests.flows.user_metrics:distinct_scores"
PER_EXAMPLE = "tests.flows.user_metrics:confidence"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    for root, _ in module_workspace(tmp_path_factory, "evaluate"):
        yield root


def _run(root: Path, **sections: object) -> dict:
    from mlflow_tflite_flows.optimize import run_flow

    params = {**TINY_PARAMS, "variants": TINY_PARAMS["variants"][:2], **sections}
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return run_flow(path, reports_dir=str(root / "reports"))


def test_a_user_metric_is_logged_tabled_and_gates_promotion(workspace: Path) -> None:
    # int8 is the smaller file, so size alone would promote it; only fp32's float outputs
    # pass the user's gate.
    promote = {"objective": ["size_bytes"],
               "constraints": {"min_distinct_scores": 1000, "max_accuracy_drop": 0.5}}
    result = _run(workspace, evaluate=[USER, "top5_accuracy", PER_EXAMPLE], promote=promote,
                  mlflow={**TINY_PARAMS["mlflow"], "registered_model_name": "evaluate-tests"})
    runs = child_runs(result["parent_run_id"])
    fp32, int8 = runs["fp32"].data.metrics, runs["int8"].data.metrics
    assert fp32["distinct_scores"] >= 1000 and int8["distinct_scores"] <= 256
    assert fp32["top5_accuracy"] >= fp32["accuracy"]
    # Per-example values: their mean, with the 95% interval of the change against fp32 on
    # the same images placed at fp32's mean (fp32 against itself: no width); a number
    # (p10_confidence, distinct_scores) has none.
    assert fp32["confidence_ci_low"] == pytest.approx(fp32["confidence"]) \
        == pytest.approx(fp32["confidence_ci_high"])
    assert int8["confidence_ci_low"] < int8["confidence_ci_high"]
    assert int8["confidence_ci_low"] <= int8["confidence"] <= int8["confidence_ci_high"]
    assert int8["confidence_ci_high"] - int8["confidence_ci_low"] < 0.05  # paired: tight
    assert {"top5_accuracy_ci_low", "top5_accuracy_ci_high"} <= set(int8)
    assert not {"p10_confidence_ci_low", "distinct_scores_ci_low"} & set(int8)
    # Decisions judge the validation split's figures (the gate's message quotes them).
    assert {"selection/distinct_scores", "selection/confidence",
            "selection/confidence_ci_low", "selection/confidence_ci_high"} <= set(int8)
    assert int8["selection/confidence"] != int8["confidence"]
    assert fp32["selection/confidence_ci_low"] == pytest.approx(fp32["selection/confidence"])
    table = (workspace / "reports" / "variants.md").read_text()
    assert "distinct_scores" in table.splitlines()[0] and "top5_accuracy" in table
    [row] = [line for line in table.splitlines() if line.startswith("| int8 ")]
    low, high = (f"{int8[f'confidence_ci_{end}']:.4f}" for end in ("low", "high"))
    assert f"{int8['confidence']:.4f} [{low}, {high}]" in row
    decision = result["decision"]
    assert "fp32 wins" in decision["summary"], decision
    assert f"int8: distinct_scores {int8['selection/distinct_scores']:.4g} <" \
        in decision["summary"], decision


def test_a_failing_user_metric_fails_that_variant_with_its_reason(workspace: Path) -> None:
    result = _run(workspace, evaluate="tests.flows.user_metrics:coarse_fails",
                  promote={"enabled": False})
    variants = {v["name"]: v for v in result["variants"]}
    assert variants["fp32"]["status"] == "ok" and variants["fp32"]["metrics"]["fine"] == 1.0
    int8 = variants["int8"]
    assert int8["status"] == "failed" and int8["failed_step"] == "measure"
    assert int8["error"] == ("EvaluateError: evaluate tests.flows.user_metrics:coarse_fails: "
                             "ZeroDivisionError: the user's metric divided by zero")
