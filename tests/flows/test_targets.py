"""Deployment targets in a whole flow run: TFLite Micro, the app's runtime and a device
over SSH (a real OpenSSH server on 127.0.0.1 with a throwaway key; the "device" is this
machine with the worktree's python). Their metrics and tags land in every child run,
gate the promotion, and fill a column each in the variants table; a target that cannot
measure fails that target only, in one line naming the host and the cause."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlflow_tflite.config import parse_params
from mlflow_tflite.targets.run import measure_targets
from tests.flows.conftest import TINY_PARAMS, child_runs, module_workspace
from tests.servers import free_port
from tests.sshd import Sshd, running_sshd

pytestmark = pytest.mark.slow

VARIANTS = [
    {"name": "int8", "convert": {"quantization": "int8", "io_type": "int8"}},
    {"name": "dynamic", "convert": {"quantization": "dynamic"}},
]
BENCHMARK = {"delegates": ["xnnpack"], "warmup_runs": 1, "timed_runs": 5, "cold_start": False}


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, sshd: Sshd) -> Iterator[dict]:
    from mlflow_tflite_flows.optimize import run_flow

    for root, _ in module_workspace(tmp_path_factory, "targets"):
        user = sshd.host.partition("@")[0]
        params = {
            **TINY_PARAMS, "variants": VARIANTS, "benchmark": BENCHMARK,
            "targets": {
                "mcu": {"kind": "tflm"},
                "app": {"kind": "runtime", "max_min_runtime": "2.10"},
                "pi": sshd.target(python=sys.executable),
                "down": {"kind": "ssh", "host": f"{user}@127.0.0.1", "port": free_port(),
                         "identity": str(sshd.identity), "connect_timeout_s": 5},
            },
            "promote": {"constraints": {"max_accuracy_drop": 1.0,
                                        "max_mcu/arena_bytes": 65536,
                                        "max_mcu/flash_bytes": 262144}},
        }
        path = root / "params.yaml"
        path.write_text(yaml.safe_dump(params, sort_keys=False))
        result = run_flow(path)
        result["root"] = root
        yield result


def test_every_target_logs_its_metrics_and_tags_in_each_child_run(run: dict, sshd: Sshd):
    children = child_runs(run["parent_run_id"])
    assert {r.info.status for r in children.values()} == {"FINISHED"}
    int8 = children["int8"].data
    assert int8.tags["mcu/compatible"] == "true"
    assert 0 < int8.metrics["mcu/arena_bytes"] < 65536
    assert int8.metrics["mcu/flash_bytes"] == int8.metrics["size_bytes"]
    assert int8.metrics["mcu/output_snr_db"] > 20
    assert int8.metrics["mcu/latency_p50_ms"] > 0
    assert int8.tags["app/min_runtime"] == "1.14.0"
    assert int8.metrics["pi/latency_p50_ms"] > 0 and int8.metrics["pi/output_snr_db"] > 100
    assert "pi/peak_memory_mb" in int8.metrics
    dynamic = children["dynamic"].data
    # TFLM names every op it lacks: the builtin model's hybrid ops.
    missing = dynamic.tags["mcu/compatible"].removeprefix("missing ops: ").split(", ")
    assert "FULLY_CONNECTED(hybrid)" in missing
    assert set(missing) <= {"CONV_2D(hybrid)", "FULLY_CONNECTED(hybrid)"}
    assert "not supported" in dynamic.tags["mcu/compatible_reason"]
    assert dynamic.tags["app/min_runtime"] == "2.17.0"
    # The unreachable host fails its own measurements only, in one line.
    for child in children.values():
        assert child.data.tags["down/error"].startswith(
            f"{sshd.host.partition('@')[0]}@127.0.0.1: unreachable (ssh: connect to host")
        assert not any(k.startswith("down/") for k in child.data.metrics)


def test_promotion_refuses_what_the_mcu_or_the_app_cannot_run(run: dict):
    summary = run["decision"]["summary"]
    assert ("dynamic: max_mcu/arena_bytes: no mcu/arena_bytes metric, app/min_runtime 2.17.0 "
            "> max_app/min_runtime 2.10.0 (FULLY_CONNECTED v12 needs 2.17.0 ") in summary
    assert "int8 wins" in summary


def test_the_variants_table_has_a_column_per_target(run: dict):
    table = (run["root"] / "reports" / "variants.md").read_text()
    header = table.splitlines()[0]
    for column in ("mcu (tflm)", "app (runtime)", "pi (ssh)", "down (ssh)"):
        assert column in header
    assert "no: " in table and "2.17.0" in table and "error" in table
    assert "arena " in table and " KiB, flash " in table


def _measure(model: Path, **targets) -> dict:
    params = parse_params({"variants": [{"name": "fp32"}], "targets": targets,
                           "benchmark": {"warmup_runs": 1, "timed_runs": 5}})
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    return measure_targets(params.targets, model, x, params.benchmark)


def test_a_missing_python_runtime_or_a_timeout_is_one_line_naming_the_host(
        run: dict, sshd: Sshd):
    model = run["root"] / "reports" / "models" / "int8.tflite"
    start = time.monotonic()
    found = _measure(model, nopython=sshd.target(python="/nonexistent/python3"),
                     noruntime=sshd.target(python=f"{sys.executable} -S"),  # no site-packages
                     slow=sshd.target(python=f"{sys.executable} -c 'import time; time.sleep(30)'",
                                      timeout_s=2))
    errors = found["errors"]
    assert errors["nopython"].startswith(f"{sshd.host}: /nonexistent/python3 failed (")
    assert errors["noruntime"] == f"{sshd.host}: litert runtime missing: No module named 'numpy'"
    assert errors["slow"] == f"{sshd.host}: timed out after 2 s"
    assert found["metrics"] == {}
    assert time.monotonic() - start < 30
