"""A search promotes its front by its own objective and constraints, or by the promotion
target it names; end to end on the digits data with a two-trial budget."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.flows.conftest import TINY_PARAMS, module_workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    for path, _ in module_workspace(tmp_path_factory, "search-promotion"):
        yield path


def test_the_front_is_promoted_by_the_search_objective_not_the_promote_section(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    from mlflow_tflite.cli import main
    from mlflow_tflite.search.results import study_results_from_dicts
    from mlflow_tflite_flows.search import run_search

    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({
        **TINY_PARAMS,
        "variants": TINY_PARAMS["variants"][:1],
        "benchmark": {**TINY_PARAMS["benchmark"], "cold_start": False},
        # Nothing passes `run`'s policy; its objective is another metric.
        "promote": {"objective": ["latency_p50_ms"],
                    "constraints": {"max_gzip_size_bytes": 1},
                    "targets": {"tiny": {"objective": ["size_bytes"],
                                         "constraints": {"max_accuracy_drop": 1.0}}}},
        "search": {"objective": ["gzip_size_bytes"], "constraints": {"max_accuracy_drop": 1.0},
                   "space": {"prune": {"final_sparsity": {"low": 0.3, "high": 0.6},
                                       "epochs": 1},
                             "convert": {"quantization": {"choices": ["int8", "dynamic"]}}},
                   "sampler": "random", "budget": {"trials": 2, "minutes": None},
                   "pruner": {"enabled": False}},
    }))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_search(params)
    assert not [w for w in caught if issubclass(w.category, FutureWarning)
                and "optuna" in w.filename], [str(w.message) for w in caught]

    found = {f"trial-{r.number}": r for r in study_results_from_dicts(result["trials"])}
    smallest = min(found, key=lambda name: found[name].metrics["gzip_size_bytes"])
    [target] = result["decision"]["targets"]
    assert (target["target"], target["objective"]) == ("default", ["gzip_size_bytes"])
    assert target["winner"] == smallest and target["outcome"] == "promoted"
    assert f"{smallest} wins on gzip_size_bytes" in result["decision"]["summary"]
    champion = MlflowClient().get_model_version_by_alias("digits-tests", "champion")
    assert champion.tags["mlflow_tflite.variant"] == smallest
    # `mlflow-tflite promote` on the search's run judges it as the search did.
    assert main(["promote", "--params", str(params), "--run-id", result["parent_run_id"],
                 "--dry-run"]) == 0
    assert f"{smallest} wins on gzip_size_bytes" in capsys.readouterr().out

    # Named: the same front (the study is finished, nothing runs) judged by target `tiny`.
    again = run_search(params, ["search.promote_target=tiny"])
    assert again["ran"] == 0 and again["pareto"] == result["pareto"]
    [target] = again["decision"]["targets"]
    assert (target["target"], target["alias"]) == ("tiny", "champion-tiny")
    assert target["objective"] == ["size_bytes"]
