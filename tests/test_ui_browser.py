"""The link the tool prints opens the experiment's runs, and a registered variant's logged
model page shows its registered model (not "Register model"), in a real MLflow UI, checked in
headless Chromium (skipped where Chromium is not installed; tests/tracking/test_ui.py
checks the links and the experiment tag without a browser)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mlflow_tflite import tracking
from tests.servers import start_mlflow_server

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                "google-chrome"))), None)
# CI (.ci/run installs Chromium) sets it: there a missing browser fails instead of skipping.
REQUIRED = os.environ.get("MLFLOW_TFLITE_BROWSER_TEST") == "required"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None and not REQUIRED,
                                 reason="Chromium is not installed")]
# Headless, and nothing that reaches out of the machine on its own (updates, sync, QUIC).
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def rendered(url: str, profile: Path) -> str:
    """The page's DOM after the single-page app has rendered."""
    assert CHROMIUM is not None, "Chromium is not installed (.ci/run installs it)"
    profile.mkdir(parents=True)  # a new, empty profile
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000",
         "--dump-dom", url],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_printed_link_opens_the_experiments_runs(tracking_uri: str, tmp_path: Path):
    from mlflow import MlflowClient

    experiment = tracking.ensure_experiment("ui-browser")
    run = MlflowClient().create_run(experiment, run_name="optimize-browser-check")
    MlflowClient().set_terminated(run.info.run_id)
    with start_mlflow_server(tracking_uri, tmp_path / "artifacts") as server:
        dom = rendered(tracking.experiment_url(server.url, experiment), tmp_path / "profile")
    assert "optimize-browser-check" in dom
    assert "Run Name" in dom and "Model training" in dom


def test_a_registered_logged_model_shows_its_version_not_a_register_button(
        tracking_uri: str, tmp_path: Path):
    import mlflow
    from mlflow import MlflowClient

    import mlflow_tflite
    from mlflow_tflite.registry.policy import Candidate
    from mlflow_tflite.registry.versions import ensure_registered_model, register
    from tests.helpers import tiny_cnn, to_tflite

    experiment = tracking.ensure_experiment("ui-browser-model")
    with mlflow.start_run(experiment_id=experiment) as run:
        info = mlflow_tflite.log_model(to_tflite(tiny_cnn(), "int8"), name="pcqat-int8")
    client = MlflowClient()
    ensure_registered_model(client, "ui-classifier")
    candidate = Candidate("pcqat-int8", run.info.run_id, {}, model_uri=info.model_uri)
    register(client, "ui-classifier", candidate, run.info.run_id, ready_timeout_s=60)
    url = f"/#/experiments/{experiment}/models/{info.model_id}?workflowType=machine_learning"
    with start_mlflow_server(tracking_uri, tmp_path / "artifacts") as server:
        dom = rendered(f"{server.url}{url}", tmp_path / "profile")
    assert "pcqat-int8" in dom
    assert "ui-classifier" in dom and "Not registered" not in dom
