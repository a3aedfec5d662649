"""The scheme and technique registries are the single source of their names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
from mlflow.exceptions import MlflowException

import mlflow_tflite
from mlflow_tflite.config import ParamsError, parse_params
from mlflow_tflite.config.variants import CompressConfig, ConvertConfig
from mlflow_tflite.plugins.scheme import (
    AI_EDGE_QUANTIZER,
    CONVERTER,
    UnknownSchemeError,
    all_schemes,
    get_scheme,
    scheme_names,
)
from mlflow_tflite.plugins.technique import all_techniques, technique_names


def test_the_config_takes_exactly_the_registered_schemes() -> None:
    assert get_args(ConvertConfig.model_fields["quantization"].annotation) == scheme_names()
    assert scheme_names()[0] == "none"
    assert {"none", "dynamic", "float16", "int8", "int16x8"} <= set(scheme_names())


def test_each_scheme_option_is_a_convert_key() -> None:
    for scheme in all_schemes():
        assert set(scheme.config_keys) <= set(ConvertConfig.model_fields), scheme.name


def test_each_scheme_declares_how_it_is_applied() -> None:
    for scheme in all_schemes():
        assert scheme.engine in (CONVERTER, AI_EDGE_QUANTIZER)
        applies = scheme.configure if scheme.engine == CONVERTER else scheme.recipe
        assert callable(applies), scheme.name
        assert scheme.needs_keras_model == (scheme.engine == CONVERTER)


def test_the_flavor_refuses_names_outside_the_registry(tmp_path, float_model) -> None:
    expected = ", ".join(scheme_names())
    with pytest.raises(MlflowException, match=f"must be one of {expected}, got 'int3'"):
        mlflow_tflite.save_model(float_model, tmp_path / "m", metadata={"quantization": "int3"})


def test_an_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(UnknownSchemeError, match="unknown quantization 'int3'; expected one"):
        get_scheme("int3")


def test_the_compress_block_has_one_key_per_technique_in_order() -> None:
    assert tuple(CompressConfig.model_fields) == technique_names()
    orders = [t.order for t in all_techniques()]
    assert orders == sorted(orders)


def test_the_registries_load_without_tensorflow() -> None:
    code = (
        "import sys; from mlflow_tflite.config import Params; "
        "from mlflow_tflite.plugins.scheme import all_schemes; all_schemes(); "
        "print(sorted(m for m in ('tensorflow', 'ai_edge_quantizer', 'tf_keras') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("convert", "expected"),
    [
        ({"quantization": "int3"}, "quantization: expected 'none', 'dynamic'"),
        ({"quantization": "int8", "block_size": 64}, "block_size 64 needs quantization int4_b"),
        ({"recipe": "missing.json"}, "missing.json: recipe file not found"),
        ({"recipe": "{bad}"}, "not JSON"),
        ({"recipe": [{"regex": ".*"}]}, "entry 0: missing operation, algorithm_key, op_config"),
        ({"recipe": [{"regex": ".*", "operation": "CONV_2D", "algorithm_key":
                      "min_max_uniform_quantize", "op_config": {"weight_tensor_config":
                      {"num_bits": 3, "symmetric": True}}}]}, "ai-edge-quantizer refuses"),
        ({"quantization": "int16x8", "keep_float": ["d"]}, "keep_float needs quantization int8,"),
        ({"quantization": "int8", "keep_float": ["("]}, "'(' is not a regular expression"),
    ],
)
def test_bad_convert_blocks_are_one_line_errors_before_any_work(
    convert: dict, expected: str, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    if isinstance(convert.get("recipe"), list | str) and convert["recipe"] != "missing.json":
        content = convert["recipe"]
        Path("recipe.json").write_text(content if isinstance(content, str) else json.dumps(content))
        convert = {**convert, "recipe": "recipe.json"}
    with pytest.raises(ParamsError) as caught:
        parse_params({"variants": [{"name": "v", "convert": convert}]}, "params.yaml")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("params.yaml: variants[0].convert")
    assert expected in message
