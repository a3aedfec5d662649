"""The link the tool prints opens the experiment's runs in a real MLflow UI, checked in
headless Chromium (skipped where Chromium is not installed; tests/tracking/test_ui.py
checks the links and the experiment tag without a browser)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mlflow_tflite import tracking
from tests.servers import start_mlflow_server

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                "google-chrome"))), None)
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")]


def rendered(url: str, profile: Path) -> str:
    """The page's DOM after the single-page app has rendered."""
    done = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
         f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--dump-dom", url],
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
