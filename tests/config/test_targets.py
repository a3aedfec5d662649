"""The `targets` section: one typed entry per kind, checked before any work; the
targets' metrics join the catalogue, so gates and objectives may name them."""

from __future__ import annotations

import pytest

from mlflow_tflite.config import ParamsError, parse_params
from mlflow_tflite.constraints import gate_for
from mlflow_tflite.metrics import find_metric
from mlflow_tflite.plugins.target import kind_names

VARIANTS = [{"name": "fp32", "convert": {"quantization": "none"}}]


def _params(**sections):
    return parse_params({"variants": VARIANTS, **sections})


def test_the_three_kinds_are_found_through_the_registry():
    assert kind_names() == ("runtime", "ssh", "tflm")


def test_a_target_registers_its_prefixed_metrics_so_gates_and_objectives_may_name_them():
    params = _params(targets={"mcu": {"kind": "tflm"}, "pi": {"kind": "ssh", "host": "pi@board"}},
                     promote={"objective": ["mcu/arena_bytes"],
                              "constraints": {"max_mcu/arena_bytes": 65536,
                                              "max_mcu/flash_bytes": 262144,
                                              "max_pi/latency_p50_ms": 20}},
                     search={"constraints": {"max_mcu/arena_bytes": 65536}})
    assert params.targets["mcu"].kind == "tflm"
    assert params.targets["pi"].host == "pi@board"
    assert [g.metric for g in params.promote.constraints.gates()] == [
        "mcu/arena_bytes", "mcu/flash_bytes", "pi/latency_p50_ms"]
    assert params.promote.objective == ["mcu/arena_bytes"]
    arena = find_metric("mcu/arena_bytes")
    assert (arena.unit, arena.group, arena.higher_is_better) == ("B", "target", False)
    assert gate_for("max_mcu/arena_bytes").excess(70_000, 65536) > 0


def test_a_runtime_target_limit_gates_every_promotion_and_the_search():
    params = _params(targets={"app": {"kind": "runtime", "max_min_runtime": "2.10"}},
                     promote={"targets": {"cpu": {},
                                          "small": {"constraints": {"max_size_bytes": 9}}}})
    for target in params.promote.resolved_targets():
        gates = {g.metric: g for g in target.constraints.gates()}
        assert gates["app/min_runtime"].message(2_017_000.0) == (
            "app/min_runtime 2.17.0 > max_app/min_runtime 2.10.0")
        assert gates["app/min_runtime"].excess(2_010_000.0) <= 0
    assert params.search.constraints is None  # inherits promote's, which has the gate


@pytest.mark.parametrize(("targets", "promote", "error"), [
    ({"mcu": {"kind": "gpu"}}, None,
     "targets.mcu: unknown target kind 'gpu'; expected one of runtime, ssh, tflm"),
    ({"mcu": "tflm"}, None, "targets.mcu: expected a mapping with kind: runtime | ssh | tflm"),
    ({"Mcu": {"kind": "tflm"}}, None, "targets: target name 'Mcu'"),
    ({"pi": {"kind": "ssh"}}, None, "targets.pi: host: Field required"),
    ({"pi": {"kind": "ssh", "host": "-oProxyCommand=sh"}}, None,
     "targets.pi: host: '-oProxyCommand=sh' is not an SSH address: expected user@host or host"),
    ({"pi": {"kind": "ssh", "host": "pi@"}}, None, "targets.pi: host: 'pi@' is not an SSH address"),
    ({"pi": {"kind": "ssh", "host": "pi@board", "options": ["-v"]}}, None,
     "targets.pi: options: '-v' is not an ssh option"),
    ({"mcu": {"kind": "tflm", "arena": 1}}, None, "targets.mcu: arena: unknown key"),
    ({"app": {"kind": "runtime", "max_min_runtime": "two"}}, None,
     "targets.app: max_min_runtime: 'two' is not a version like 2.10 or 2.10.1"),
    ({"pi": {"kind": "ssh", "host": "pi@board"}}, {"constraints": {"max_pi/arena_bytes": 1}},
     "'max_pi/arena_bytes': no target produces pi/arena_bytes"),
    ({}, {"constraints": {"max_nowhere/arena_bytes": 1}},
     "'max_nowhere/arena_bytes': no target produces nowhere/arena_bytes"),
])
def test_bad_targets_are_one_line_naming_the_key(targets, promote, error):
    sections = {"targets": targets, **({"promote": promote} if promote else {})}
    with pytest.raises(ParamsError) as raised:
        _params(**sections)
    assert error in str(raised.value)
    assert "\n" not in str(raised.value)
