"""The `runtime` target without the converter's metadata (TensorFlow's op table against
what the real converter writes), and the `tflm` target naming every op TFLite Micro
lacks, not only the first it stops at (the real tflite-micro interpreter)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mlflow_tflite.config import parse_params
from mlflow_tflite.plugins.target import get_kind, target_cell
from mlflow_tflite.registry.policy import Candidate, evaluate
from mlflow_tflite.targets.run import measure_targets
from mlflow_tflite.targets.runtime import METADATA_KEY, model_runtime, op_table_runtime, used_ops
from tests.helpers import tiny_cnn, to_tflite

KINDS = ("none", "dynamic", "int8", "float16", "int16x8")


def _int16x8(model) -> bytes:
    from mlflow_tflite._tf import import_tensorflow

    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    converter.representative_dataset = lambda: (
        [rng.random((1, 8, 8, 1), dtype=np.float32)] for _ in range(10))
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    return converter.convert()


def _rewrite(content: bytes, strip: bool = True, version: dict[str, int] | None = None) -> bytes:
    """`content` without its `min_runtime_version` metadata, and ops' versions replaced."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    from mlflow_tflite.convert.facts import enum_names

    model = schema.ModelT.InitFromPackedBuf(content, 0)
    if strip:
        model.metadata = [m for m in model.metadata or []
                          if m.name not in (METADATA_KEY, METADATA_KEY.encode())]
    names = enum_names("BuiltinOperator")
    for code in model.operatorCodes:
        name = names[max(code.builtinCode, code.deprecatedBuiltinCode)]
        code.version = (version or {}).get(name, code.version)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.fixture(scope="module")
def converted() -> dict[str, bytes]:
    model = tiny_cnn()
    return {kind: _int16x8(model) if kind == "int16x8" else to_tflite(model, kind)
            for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_the_op_table_gives_what_the_converter_writes(converted, kind):
    metadata, ops = used_ops(converted[kind])
    table, why = op_table_runtime(ops)
    stripped, _ = used_ops(_rewrite(converted[kind]))
    assert stripped is None
    if kind != "int16x8":
        assert table == metadata, why
        return
    # The 16x8 quantizer replaces the float ops after the converter wrote the metadata
    # (1.5.0, the float model's): the quantized ops it leaves need 1.14.0, and the newer
    # of the two is the model's minimum.
    assert (metadata, table) == ("1.5.0", "1.14.0")
    assert model_runtime(converted[kind]) == (
        "1.14.0", "QUANTIZE v1 needs 1.14.0 (op table; the min_runtime_version metadata "
        "says 1.5.0)")


def test_without_metadata_the_reason_names_the_op_version_and_the_op_table(converted):
    assert model_runtime(_rewrite(converted["dynamic"])) == (
        "2.17.0", "FULLY_CONNECTED v12 needs 2.17.0 (op table; no min_runtime_version metadata)")
    assert model_runtime(converted["dynamic"]) == (
        "2.17.0", "FULLY_CONNECTED v12 needs 2.17.0 (min_runtime_version metadata)")


def test_an_op_version_the_table_lacks_is_unknown_not_old(converted):
    unknown = _rewrite(converted["int8"], version={"FULLY_CONNECTED": 99})
    assert model_runtime(unknown) == (
        None, "op table lacks FULLY_CONNECTED v99 (op table; no min_runtime_version metadata)")
    # With the metadata, the converter's word stands; the reason says what the table lacks.
    kept = _rewrite(converted["int8"], strip=False, version={"FULLY_CONNECTED": 99})
    assert model_runtime(kept) == (
        "1.14.0", "1.14.0 from the min_runtime_version metadata "
        "(op table: op table lacks FULLY_CONNECTED v99)")


@pytest.fixture(scope="module")
def params():
    return parse_params({
        "variants": [{"name": "fp32"}], "benchmark": {"warmup_runs": 1, "timed_runs": 5},
        "targets": {"mcu": {"kind": "tflm"}, "app": {"kind": "runtime", "max_min_runtime": "2.10"}},
    })


def test_a_model_without_metadata_goes_through_the_target_and_its_gate(
        converted, params, tmp_path: Path):
    from mlflow_tflite.targets.runtime import measure

    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    measured = {}
    for name, content in {"dynamic": _rewrite(converted["dynamic"]),
                          "int8": _rewrite(converted["int8"])}.items():
        path = tmp_path / f"{name}.tflite"
        path.write_bytes(content)
        measured[name] = measure_targets({"app": params.targets["app"]}, path, x,
                                         params.benchmark)
    assert measured["int8"]["tags"]["app/min_runtime"] == "1.14.0"
    # An op version no runtime knows: LiteRT cannot even load it (no reference for the
    # whole target), so the kind's own measure stands in, as the target logs it.
    odd = tmp_path / "odd.tflite"
    odd.write_bytes(_rewrite(converted["int8"], version={"CONV_2D": 99}))
    result = measure(SimpleNamespace(model_path=str(odd)))
    assert result.tags["min_runtime"] == "unknown" and result.metrics == {}
    measured["odd"] = {"metrics": {}, "tags": {f"app/{k}": v for k, v in result.tags.items()}}
    candidates = [Candidate(name, name, {**m["metrics"], "accuracy_delta": 0.0,
                                         "latency_vs_fp32": 1.0}, m["tags"])
                  for name, m in measured.items()]
    result = evaluate(candidates, params.promote.target(None))
    assert [c.variant for c in result.ranking] == ["int8"]
    assert [f.message for f in result.failures["dynamic"]] == [
        "app/min_runtime 2.17.0 > max_app/min_runtime 2.10.0 (FULLY_CONNECTED v12 needs "
        "2.17.0 (op table; no min_runtime_version metadata))"]
    assert [f.message for f in result.failures["odd"]] == [
        "max_app/min_runtime: no app/min_runtime metric (op table lacks CONV_2D v99 "
        "(op table; no min_runtime_version metadata))"]


def _two_convs():
    """Two convolutions and a dense layer: dynamic-range quantizes the second conv (over
    1,024 weights) and the dense layer, two hybrid ops TFLM lacks."""
    from mlflow_tflite._tf import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.layers.Input((8, 8, 1)), keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.Flatten(),
        keras.layers.Dense(10)])


def test_tflm_names_every_missing_op_in_one_line(converted, params, tmp_path: Path):
    from tflite_micro.python.tflite_micro import runtime

    model = _two_convs()
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    found = {}
    for name, content in {"dynamic": to_tflite(model, "dynamic"),
                          "int8": to_tflite(model, "int8"),
                          "float16": converted["float16"]}.items():
        path = tmp_path / f"{name}.tflite"
        path.write_bytes(content)
        found[name] = measure_targets({"mcu": params.targets["mcu"]}, path, x, params.benchmark)
    tags = found["dynamic"]["tags"]
    assert tags["mcu/compatible"] == "missing ops: CONV_2D(hybrid), FULLY_CONNECTED(hybrid)"
    assert tags["mcu/compatible_reason"] == (
        "CONV_2D(hybrid): tensorflow/lite/micro/kernels/conv_common.cc Hybrid models are not "
        "supported on TFLite Micro.; FULLY_CONNECTED(hybrid): Input type: FLOAT32 with "
        "filter type: INT8 not supported.")
    # The interpreter itself stops at the first one only.
    with pytest.raises(RuntimeError):
        runtime.Interpreter.from_bytes((tmp_path / "dynamic.tflite").read_bytes(),
                                       arena_size=2**24)
    assert found["float16"]["tags"]["mcu/compatible"] == "missing ops: DEQUANTIZE(float16)"
    values = {k.removeprefix("mcu/"): v for k, v in found["dynamic"]["tags"].items()}
    assert target_cell(get_kind("tflm"), values) == (
        "no: CONV_2D(hybrid), FULLY_CONNECTED(hybrid)")
    # The same layers fully quantized run: nothing is named that TFLM has.
    assert found["int8"]["tags"]["mcu/compatible"] == "true"
