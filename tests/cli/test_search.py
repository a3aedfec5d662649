"""`mlflow-tflite search`: a bad space or budget is one line, before any work or MLflow run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pytest
import yaml

from mlflow_tflite.cli import main
from tests.flows.conftest import TINY_PARAMS


def _params(tmp_path: Path, space: dict[str, Any]) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({**TINY_PARAMS, "search": {"space": space}}))
    return path


@pytest.mark.parametrize(("space", "argv", "message"), [
    ({"prune": {"final_sparsity": {"low": 0.9, "high": 0.5}}}, [],
     "search.space.prune.final_sparsity: low 0.9 > high 0.5"),
    ({}, [], "search.space: empty"),
    ({"prune": {"final_sparsity": {"low": 0.5, "high": 0.9}}}, ["--trials", "0"],
     "--trials must be > 0 (got 0)"),
    ({"prune": {"final_sparsity": {"low": 0.5, "high": 0.9}}},
     ["--set", "search.sampler=grid"], "search.sampler: expected 'tpe', 'nsga2' or 'random'"),
    ({"prune": {"final_sparsity": {"low": 0.5, "high": 0.9}}},
     ["--set", "search.pruner.type=halving"],
     "search.pruner.type: expected 'threshold', 'successive_halving' or 'hyperband'"),
    ({"prune": {"final_sparsity": {"low": 0.5, "high": 0.9}}},
     ["--set", "search.pruner.reduction_factor=3"],
     "search.pruner: reduction_factor: only for type successive_halving or hyperband"),
    ({"prune": {"final_sparsity": {"low": 0.5, "high": 0.9}}},
     ["--set", "search.pruner.type=hyperband", "--set",
      "search.objective=[gzip_size_bytes, accuracy]"],
     "search: pruner.type hyperband needs one objective"),
])
def test_a_bad_search_is_refused_before_any_work(
    tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    space: dict[str, Any], argv: list[str], message: str,
) -> None:
    path = _params(tmp_path, space)
    assert main(["search", "--params", str(path), *argv]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlflow-tflite search: error: ")
    assert message in lines[0]
    assert mlflow.search_runs(search_all_experiments=True).empty
    assert not (tmp_path / "optuna.db").exists() and not (tmp_path / "data").exists()


def test_run_refuses_a_bad_space_when_the_search_is_enabled(
    tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({**TINY_PARAMS, "search": {
        "enabled": True, "space": {"cluster": {"clusters": {"low": 16, "high": 4}}}}}))
    assert main(["run", "--params", str(path)]) == 1
    assert capsys.readouterr().err.strip().endswith(
        "search.space.cluster.clusters: low 16 > high 4")
    assert mlflow.search_runs(search_all_experiments=True).empty
