"""A console a person can read: `mlflow-tflite run` typed in a plain shell (not under
`make`, none of its variables set) prints none of the libraries' noise; it is in the log.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from mlflow_tflite.cli import console
from tests.flows.conftest import TINY_PARAMS
from tests.servers import BIN_DIR

# What a `make run` printed before (issue 20), one fragment per kind of line.
NOISE = [
    "I0000", "E0000", "oneDNN custom operations", "failed call to cuInit",
    "absl::InitializeLog", "FutureWarning", "ExperimentalWarning",
    "running in a worker thread", "View run", "View experiment", "Downloading artifacts",
    "Generating Quantization Parameters", "Quantization Ratio", "Failed to send telemetry",
]


def test_the_command_sets_the_environment_it_needs_and_users_values_win(
    monkeypatch: pytest.MonkeyPatch,
):
    for name in (*console.ENVIRONMENT, *console.QUIET_ENVIRONMENT):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    console.set_environment(verbose=False)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "true"


def test_tensorflow_log_lines_are_noise_and_ours_are_not():
    assert console.NOISE.match(b"I0000 00:00:1796335361.813715   14110 port.cc:153] oneDNN")
    assert console.NOISE.match(b"E0000 00:00:1796335566.809809   20083 cuda_platform.cc:52] "
                               b"failed call to cuInit")
    assert not console.NOISE.match(b"mlflow-tflite run: interrupted\n")
    assert not console.NOISE.match(b"22:22:53.118 | INFO    | Task run 'train-baseline'\n")


@pytest.mark.slow
def test_run_outside_make_keeps_library_noise_off_the_console(tmp_path: Path):
    params = {
        **TINY_PARAMS,
        "variants": [*TINY_PARAMS["variants"][:2],
                     {"name": "int4", "convert": {"quantization": "int4_weight_only"}}],
        "benchmark": {**TINY_PARAMS["benchmark"], "cold_start": False},
        # The search after the variants: Optuna's warnings too.
        "search": {"enabled": True, "budget": {"trials": 1},
                   "space": {"convert": {"quantization": {"choices": ["int8", "dynamic"]}}}},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # A login shell's environment: none of the Makefile's variables.
    env = {"PATH": f"{BIN_DIR}{os.pathsep}/usr/bin:/bin", "HOME": os.environ["HOME"],
           "LANG": "C.UTF-8"}
    done = subprocess.run([str(Path(BIN_DIR) / "mlflow-tflite"), "run"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    console_text = done.stdout + done.stderr
    assert [n for n in NOISE if n in console_text] == [], console_text[-3000:]
    assert "Promotion:" in done.stdout
    logged = (tmp_path / console.LOG_FILE).read_text()
    assert "oneDNN custom operations" in logged or "I0000" in logged
