"""The `ssh` target against a real OpenSSH server on 127.0.0.1 (the "device" is this
machine, its python the worktree's): copy, time there, read back; every failure is one
line naming the host and the cause, and fails that target only."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mlflow_tflite.config import parse_params
from mlflow_tflite.targets.run import measure_targets
from tests.helpers import tiny_cnn, to_tflite
from tests.servers import free_port
from tests.sshd import Sshd, running_sshd

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ssh-model") / "int8.tflite"
    path.write_bytes(to_tflite(tiny_cnn(), "int8"))
    return path


def _measure(model: Path, **targets) -> dict:
    params = parse_params({"variants": [{"name": "fp32"}], "targets": targets,
                           "benchmark": {"warmup_runs": 1, "timed_runs": 5}})
    x = np.random.default_rng(0).random((8, 8, 8, 1), dtype=np.float32)
    return measure_targets(params.targets, model, x, params.benchmark)


def test_a_variant_is_timed_on_the_host_with_its_litert(sshd: Sshd, model: Path):
    found = _measure(model, pi=sshd.target(python=sys.executable))
    assert found["errors"] == {}
    metrics = found["metrics"]
    assert set(metrics) == {"pi/latency_p50_ms", "pi/latency_p90_ms", "pi/peak_memory_mb",
                            "pi/output_snr_db"}
    assert 0 < metrics["pi/latency_p50_ms"] <= metrics["pi/latency_p90_ms"]
    assert metrics["pi/output_snr_db"] > 100  # the same LiteRT as here: the same outputs
    assert metrics["pi/peak_memory_mb"] >= 0


def test_unreachable_missing_python_or_runtime_fail_only_that_target_in_one_line(
        sshd: Sshd, model: Path):
    user = sshd.host.partition("@")[0]
    found = _measure(
        model,
        down={"kind": "ssh", "host": f"{user}@127.0.0.1", "port": free_port(),
              "identity": str(sshd.identity), "connect_timeout_s": 5},
        nopython=sshd.target(python="/nonexistent/python3"),
        noruntime=sshd.target(python=f"{sys.executable} -S"),  # no site-packages
        app={"kind": "runtime"},
    )
    errors = found["errors"]
    assert errors["down"].startswith(f"{user}@127.0.0.1: unreachable (ssh: connect to host")
    assert errors["nopython"].startswith(f"{sshd.host}: /nonexistent/python3 failed (")
    assert errors["noruntime"] == (
        f"{sshd.host}: litert runtime missing: No module named 'numpy'")
    assert found["tags"]["down/error"] == errors["down"]
    assert "app" not in errors and found["tags"]["app/min_runtime"] == "1.14.0"
    assert not any(name.startswith(("down/", "nopython/", "noruntime/"))
                   for name in found["metrics"])


def test_a_host_that_does_not_answer_in_time_is_a_timeout(sshd: Sshd, model: Path):
    start = time.monotonic()
    found = _measure(model, slow=sshd.target(
        python=f"{sys.executable} -c 'import time; time.sleep(30)'", timeout_s=2))
    assert found["errors"]["slow"] == f"{sshd.host}: timed out after 2 s"
    assert time.monotonic() - start < 20
