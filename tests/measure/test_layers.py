"""Per-layer error against the float model, on real LiteRT and real ai-edge-quantizer."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_tflite.measure.layers import (
    TABLE_COLUMNS,
    layer_errors,
    min_layer_snr_db,
    most_sensitive,
    output_snr_db,
    summary_metrics,
)
from mlflow_tflite.measure.quality import SNR_CEILING_DB
from tests.helpers import aeq_quantize, digits, outlier_mlp, to_tflite

FLOAT_OPS = ["CONV_2D", "RESHAPE", "FULLY_CONNECTED", "FULLY_CONNECTED"]


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return digits()[0]


@pytest.fixture(scope="module")
def outlier():
    return outlier_mlp()


@pytest.fixture(scope="module")
def int4_model(float_model: bytes, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return aeq_quantize(float_model, "weight_only_wi4_afp32", tmp_path_factory.mktemp("aeq"))


def test_a_model_against_itself_has_no_error(float_model: bytes, x: np.ndarray) -> None:
    errors = layer_errors(float_model, float_model, x)
    assert [e.op for e in errors] == FLOAT_OPS
    # Identical layers are capped at the float32 ceiling: never an infinity in MLflow.
    assert all(e.mse == 0 and e.identical and e.cosine == 1.0 for e in errors)
    assert summary_metrics(errors) == {"output_snr_db": SNR_CEILING_DB,
                                       "min_layer_snr_db": SNR_CEILING_DB}


@pytest.mark.parametrize("variant", ["int8", "int8_float_io", "int4_weight_only"])
def test_a_quantized_model_has_finite_error_on_every_float_layer(
    variant: str,
    cnn,
    float_model: bytes,
    int8_model: bytes,
    int4_model: bytes,
    x: np.ndarray,
) -> None:
    quantized = {
        "int8": int8_model,
        "int8_float_io": to_tflite(cnn, "int8"),
        "int4_weight_only": int4_model,
    }[variant]
    errors = layer_errors(float_model, quantized, x, max_samples=100)
    reference = layer_errors(float_model, float_model, x, max_samples=1)
    assert [(e.layer, e.op) for e in errors] == [(e.layer, e.op) for e in reference]
    assert [e.is_output for e in errors] == [False, False, False, True]
    for e in errors:
        assert 5 < e.snr_db < 80 and 0.9 < e.cosine < 1 and e.mse > 0
        assert set(e.row()) == set(TABLE_COLUMNS)
    assert output_snr_db(errors) == errors[-1].snr_db
    assert min_layer_snr_db(errors) == min(e.snr_db for e in errors)


@pytest.mark.parametrize("quantization", ["dynamic", "float16", "int16x8"])
def test_every_converter_scheme_matches_every_float_layer(
    quantization: str, cnn, float_model: bytes, x: np.ndarray
) -> None:
    from mlflow_tflite._tf import import_tensorflow

    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_keras_model(cnn)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization == "int16x8":
        converter.representative_dataset = lambda: ([x[i : i + 1]] for i in range(20))
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
    errors = layer_errors(float_model, converter.convert(), x, max_samples=50)
    # float16 renames the conv output (...ReadVariableOp1 -> 2), int16x8 the model output
    # (:0 -> :0_int16): matched by position among ops of the same type.
    assert [e.op for e in errors] == FLOAT_OPS
    # dynamic range leaves the small conv in float: its SNR is the ceiling.
    assert all(e.snr_db > 20 for e in errors) and any(not e.identical for e in errors)


@pytest.mark.parametrize("scheme", ["int8", "weight_only_wi4_afp32", "dynamic_wi4_afp32"])
def test_the_layer_with_an_outlier_weight_ranks_most_sensitive(
    scheme: str, outlier, x: np.ndarray, tmp_path
) -> None:
    model = outlier
    float_model = to_tflite(model)
    if scheme == "int8":
        quantized = to_tflite(model, "int8")
    else:
        quantized = aeq_quantize(float_model, scheme, tmp_path)
    errors = layer_errors(float_model, quantized, x, max_samples=200)
    ranked = most_sensitive(errors)
    assert "/sensitive/" in ranked[0].layer, [(e.layer, e.added_snr_db) for e in ranked]
    assert ranked[0].tensor in {e.tensor for e in errors}
    assert len(most_sensitive(errors, 2)) == 2


def test_models_with_different_inputs_are_refused(
    float_model: bytes, x: np.ndarray, tmp_path
) -> None:
    from tests.helpers import multi_io_model

    with pytest.raises(ValueError, match="the models' inputs do not match"):
        layer_errors(float_model, to_tflite(multi_io_model()), x)


def test_inputs_of_the_wrong_shape_are_refused(float_model: bytes) -> None:
    with pytest.raises(ValueError, match=r"do not fit the model inputs \[-1, 8, 8, 1\]"):
        layer_errors(float_model, float_model, np.zeros((4, 28, 28, 1), np.float32))


def test_a_missing_file_is_refused(float_model: bytes, x: np.ndarray, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.tflite: no such .tflite file"):
        layer_errors(float_model, tmp_path / "missing.tflite", x)


def test_the_analysis_streams_in_batches_sized_to_the_memory_budget(
    float_model: bytes, int4_model: bytes, x: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow_tflite.measure import layers

    whole = layer_errors(float_model, int4_model, x, max_samples=40)
    # One sample a batch, no padding: the same sums, so the same errors.
    monkeypatch.setattr(layers, "BATCH_BYTES", 1)
    assert layers.batch_size(10**6) == 1
    single = layer_errors(float_model, int4_model, x, max_samples=40)
    for a, b in zip(whole, single, strict=True):
        # Float32 kernels round a little differently per batch size: 1e-4 dB apart at most.
        assert a.snr_db == pytest.approx(b.snr_db, abs=1e-4) and a.layer == b.layer


def test_a_large_model_runs_fewer_samples_never_below_the_floor() -> None:
    from mlflow_tflite.measure.layers import ANALYSIS_BYTES, MIN_SAMPLES, sample_count

    assert sample_count(256, 10_000) == 256  # a small model: every sample asked for
    assert sample_count(256, ANALYSIS_BYTES // 100) == 100
    assert sample_count(256, ANALYSIS_BYTES) == MIN_SAMPLES
    assert sample_count(10, ANALYSIS_BYTES) == 10
