"""The DVC pipeline in a fresh git repository: `dvc repro`, a no-op repeat, two
`dvc exp run -S` experiments that `dvc exp show` and `dvc plots diff` compare."""

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


def _env(repo: Path) -> dict[str, str]:
    # The stages call the `mlflow-tflite` console script of this environment.
    env = venv_env(
        DVC_NO_ANALYTICS="1",
        PREFECT_HOME=str(repo.parent / "prefect-home"),
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com",
    )
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _sh(repo: Path, *argv: str, stdout_only: bool = False) -> str:
    """The command's output (only stdout for a JSON document); it must succeed."""
    done = subprocess.run(argv, cwd=repo, env=_env(repo), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout if stdout_only else done.stdout + done.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository like a clone of this one: code, dvc.yaml, .dvc/ and tiny params."""
    repo = tmp_path_factory.mktemp("dvc") / "repo"
    repo.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("mlflow_tflite", "flows"):
        shutil.copytree(ROOT / name, repo / name, ignore=skip)
    # The project's .gitignore: what it ignores, an experiment's commit cannot carry.
    for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / ".dvc", repo / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    params = {**TINY_PARAMS, "variants": TINY_PARAMS["variants"][:2],
              "benchmark": {**TINY_PARAMS["benchmark"], "cold_start": False},
              "promote": {"enabled": True}}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
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
    assert set(metrics) == {"fp32", "int8", "champion"}
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


@pytest.fixture(scope="module")
def experiments(repo: Path, first_repro: str) -> dict[str, str]:
    """Two experiments, one param changed in each: name -> `dvc exp run` output."""
    # An experiment starts from the workspace, which holds the previous one's params.
    settings = {"epochs2": ["train.epochs=2"],
                "batch32": ["train.epochs=1", "train.batch_size=32"]}
    return {
        name: _sh(repo, "dvc", "exp", "run", "-n", name,
                  *(arg for s in setting for arg in ("-S", s)))
        for name, setting in settings.items()
    }


def test_exp_run_with_a_changed_param_reruns_only_the_optimize_stage(
    repo: Path, experiments: dict[str, str]
):
    for out in experiments.values():
        assert "Running stage 'optimize'" in out
        assert "Running stage 'prepare'" not in out
    diff = _sh(repo, "dvc", "params", "diff")
    assert "train.batch_size" in diff and "64" in diff and "32" in diff


def test_exp_show_compares_the_experiments_metrics_and_params(
    repo: Path, experiments: dict[str, str]
):
    shown = json.loads(_sh(repo, "dvc", "exp", "show", "--json", stdout_only=True))
    baseline = next(row for row in shown if row["rev"] != "workspace")
    runs = {rev["name"]: rev["data"] for exp in baseline["experiments"] for rev in exp["revs"]}
    assert set(runs) == set(experiments)
    for name, epochs, batch in (("epochs2", 2, 64), ("batch32", 1, 32)):
        train = runs[name]["params"]["params.yaml"]["data"]["train"]
        assert (train["epochs"], train["batch_size"]) == (epochs, batch), name
        metrics = runs[name]["metrics"]["reports/metrics.json"]["data"]
        assert set(metrics) == {"fp32", "int8", "champion"}, name
        assert metrics["champion"]["variant"] in {"fp32", "int8"}
        assert 0.0 < metrics["champion"]["accuracy"] <= 1.0
        assert metrics["int8"]["size_bytes"] > 0
    # The experiments' commits carry the plots too, so `dvc plots diff` can compare them.
    out = _sh(repo, "dvc", "plots", "diff", *experiments, "--json")
    assert "reports/variants.csv" in out and "reports/pareto.png" in out
