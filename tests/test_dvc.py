"""The DVC pipeline in a fresh git repository: `dvc repro`, a no-op repeat, `dvc exp run -S`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.flows.conftest import TINY_PARAMS
from tests.servers import venv_env

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def _sh(repo: Path, *argv: str) -> str:
    # The stages call the `mlflow-tflite` console script of this environment.
    env = venv_env(
        DVC_NO_ANALYTICS="1",
        PREFECT_HOME=str(repo.parent / "prefect-home"),
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com",
    )
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository like a clone of this one: code, dvc.yaml, .dvc/ and tiny params."""
    repo = tmp_path_factory.mktemp("dvc") / "repo"
    repo.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("mlflow_tflite", "flows"):
        shutil.copytree(ROOT / name, repo / name, ignore=skip)
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / ".dvc", repo / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    params = {**TINY_PARAMS, "variants": TINY_PARAMS["variants"][:2],
              "benchmark": {**TINY_PARAMS["benchmark"], "cold_start": False},
              "promote": {"enabled": False}}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (repo / ".gitignore").write_text("mlflow.db\nmlruns/\n.mlflow_tflite/\n__pycache__/\n")
    _sh(repo, "git", "init", "-q")
    _sh(repo, "git", "add", "-A")
    _sh(repo, "git", "commit", "-q", "-m", "clone")
    return repo


@pytest.fixture(scope="module")
def first_repro(repo: Path) -> str:
    out = _sh(repo, "dvc", "repro")
    _sh(repo, "git", "add", "-A")
    _sh(repo, "git", "commit", "-q", "-m", "repro")
    return out


def test_dvc_repro_runs_both_stages_through_the_cli(repo: Path, first_repro: str):
    assert "Running stage 'prepare'" in first_repro
    assert "Running stage 'optimize'" in first_repro
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert set(metrics) == {"fp32", "int8"}
    assert (repo / "reports/variants.csv").is_file() and (repo / "reports/pareto.png").is_file()
    assert (repo / "data/prepared").is_dir() and (repo / "dvc.lock").is_file()


def test_mlflow_records_the_dvc_tracked_data_version(repo: Path, first_repro: str):
    import mlflow

    from mlflow_tflite.data import load_dataset

    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert any(o["path"] == "data/prepared" for o in lock["stages"]["prepare"]["outs"])
    client = mlflow.MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(TINY_PARAMS["mlflow"]["experiment"])
    (parent,) = client.search_runs([experiment.experiment_id],
                                   "tags.`mlflow_tflite.role` = 'flow'")
    assert parent.data.tags["data_version"] == load_dataset(repo / "data/prepared").version


def test_a_second_dvc_repro_with_nothing_changed_does_nothing(repo: Path, first_repro: str):
    out = _sh(repo, "dvc", "repro")
    assert "Running stage" not in out
    assert "didn't change, skipping" in out


def test_metrics_show_lists_each_variants_metrics(repo: Path, first_repro: str):
    out = _sh(repo, "dvc", "metrics", "show")
    assert "int8.accuracy" in out and "fp32.size_bytes" in out


def test_exp_run_with_a_changed_param_reruns_only_the_optimize_stage(
    repo: Path, first_repro: str
):
    out = _sh(repo, "dvc", "exp", "run", "-S", "train.epochs=2")
    assert "Running stage 'optimize'" in out
    assert "Running stage 'prepare'" not in out
    diff = _sh(repo, "dvc", "params", "diff")
    assert "train.epochs" in diff and "1" in diff and "2" in diff
    assert "int8.accuracy" in _sh(repo, "dvc", "metrics", "show")
