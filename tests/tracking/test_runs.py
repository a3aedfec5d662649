"""MLflow layout of a flow run: parent run, one child per variant, failures as FAILED."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlflow_tflite import tracking
from mlflow_tflite.tracking import VariantRecord
from tests.helpers import digits, tiny_cnn, to_tflite

PARAMS = {
    "data": {"source": "digits"},
    "variants": [
        {"name": "int8", "convert": {"quantization": "int8"}},
        {"name": "broken", "convert": {"quantization": "none"}},
    ],
    "benchmark": {"delegates": ["xnnpack", "builtin"]},
    "mlflow": {"experiment": "tests"},
}
TAGS = {"data_version": "v123", "git_commit": "abc"}


@pytest.fixture(scope="module")
def int8_tflite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "int8.tflite"
    path.write_bytes(to_tflite(tiny_cnn(), "int8", "int8"))
    return path


def _ok(path: Path) -> VariantRecord:
    metrics = {m: 0.5 for m in tracking.METRICS}
    metrics["builtin/latency_p50_ms"] = 0.7
    return VariantRecord("int8", "none", "int8", metrics=metrics, delegate="xnnpack",
                         measurement={"metrics": metrics, "settings": {"timed_runs": 5}},
                         tflite_path=str(path),
                         params=tracking.variant_params(PARAMS["variants"][0]))


def _failed() -> VariantRecord:
    return VariantRecord("broken", "none", "none", status="failed",
                         params=tracking.variant_params(PARAMS["variants"][1]),
                         error="ConverterError: op not supported",
                         traceback="Traceback (most recent call last):\nConverterError",
                         failed_step="convert")


@pytest.fixture
def parent(tracking_uri: str) -> str:
    experiment = tracking.ensure_experiment("tests")
    run_id = tracking.start_parent_run(experiment, "optimize-test", TAGS)
    x, y = digits()
    dataset = tracking.runs.numpy_dataset(x, y, "digits-train", "v123", "data/prepared")
    tracking.log_parent(run_id, PARAMS, baseline_accuracy=0.9, datasets=[(dataset, "training")])
    return run_id


def test_resolve_tracking_uri_prefers_config_then_environment_then_local_sqlite(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    assert tracking.resolve_tracking_uri("sqlite:////x.db") == "sqlite:////x.db"
    assert tracking.resolve_tracking_uri(None) == "http://tracking:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert tracking.resolve_tracking_uri(None) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"


def test_flatten_uses_the_dotted_override_paths():
    flat = tracking.flatten(PARAMS)
    assert flat["variants.0.convert.quantization"] == "int8"
    assert flat["benchmark.delegates"] == '["xnnpack", "builtin"]'
    assert flat["data.source"] == "digits"


def test_parent_run_logs_short_section_keys_and_no_per_index_variant_keys(parent: str):
    from mlflow import MlflowClient

    client = MlflowClient()
    run = client.get_run(parent)
    assert run.data.params == {
        "data.source": "digits",
        "benchmark.delegates": '["xnnpack", "builtin"]',
        "variants": "int8,broken",
    }
    assert run.data.tags["data_version"] == "v123"
    assert run.data.tags["data_version"] == "v123"
    assert run.data.tags["mlflow_tflite.role"] == "flow"
    assert run.data.metrics["baseline_accuracy"] == 0.9
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.digest == "v123"
    assert [a.path for a in client.list_artifacts(parent)] == ["params.yaml"]


def test_every_child_logs_its_own_variant_config_under_the_same_names(
    parent: str, int8_tflite: Path
):
    from mlflow import MlflowClient

    client = MlflowClient()
    ok = client.get_run(tracking.log_variant(parent, _ok(int8_tflite), common_tags=TAGS))
    failed = client.get_run(tracking.log_variant(parent, _failed(), common_tags=TAGS))
    assert ok.data.params == {"convert.quantization": "int8"}
    assert failed.data.params == {"convert.quantization": "none"}


def test_the_logged_model_is_named_after_the_variant_with_its_config_as_params(
    parent: str, int8_tflite: Path
):
    from mlflow import MlflowClient

    client = MlflowClient()
    run_id = tracking.log_variant(parent, _ok(int8_tflite), common_tags=TAGS)
    experiment = client.get_run(run_id).info.experiment_id
    (model,) = client.search_logged_models([experiment])
    assert model.name == "int8"
    assert model.source_run_id == run_id
    assert model.params == {"convert.quantization": "int8"}


def test_a_variant_child_has_metrics_tags_measurement_and_a_loadable_model(
    parent: str, int8_tflite: Path
):
    import mlflow
    from mlflow import MlflowClient

    record = _ok(int8_tflite)
    x, _ = digits()
    run_id = tracking.log_variant(parent, record, common_tags=TAGS, input_example=x[:2])
    run = MlflowClient().get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.parentRunId"] == parent
    for key, value in {**TAGS, "mlflow_tflite.variant": "int8", "technique": "none",
                       "quantization": "int8", "delegate": "xnnpack"}.items():
        assert run.data.tags[key] == value
    assert set(tracking.METRICS) | {"builtin/latency_p50_ms"} <= set(run.data.metrics)
    measurement = mlflow.artifacts.load_dict(f"runs:/{run_id}/measurement.json")
    assert measurement["settings"] == {"timed_runs": 5}
    predictions = mlflow.pyfunc.load_model(run.data.tags["mlflow_tflite.model_uri"]).predict(x[:3])
    assert np.asarray(predictions).shape == (3, 10)


def test_a_failed_variant_child_ends_failed_with_error_tag_and_text(parent: str):
    import mlflow
    from mlflow import MlflowClient

    run_id = tracking.log_variant(parent, _failed(), common_tags=TAGS)
    run = MlflowClient().get_run(run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["mlflow_tflite.error"] == "ConverterError: op not supported"
    assert run.data.tags["mlflow_tflite.failed_step"] == "convert"
    text = mlflow.artifacts.load_text(f"runs:/{run_id}/error.txt")
    assert text.startswith("Traceback")


def test_logging_a_variant_again_reuses_its_child_run(parent: str):
    first = tracking.log_variant(parent, _failed(), common_tags=TAGS)
    second = tracking.log_variant(parent, _failed(), common_tags=TAGS)
    assert first == second
    assert len(tracking.load_records(parent)) == 1


def test_load_records_rebuilds_the_variants_in_params_order(parent: str, int8_tflite: Path):
    tracking.log_variant(parent, _failed(), common_tags=TAGS)
    tracking.log_variant(parent, _ok(int8_tflite), common_tags=TAGS)
    records = tracking.load_records(parent)
    assert [(r.name, r.status, r.failed_step) for r in records] == [
        ("int8", "ok", None),
        ("broken", "failed", "convert"),
    ]
    assert records[0].metrics["accuracy"] == 0.5
    tracking.runs.end_run(parent, ok=True)
    assert tracking.latest_flow_run("tests") == parent
    with pytest.raises(LookupError, match="no MLflow experiment named 'no-such-experiment'"):
        tracking.latest_flow_run("no-such-experiment")


def test_a_selectively_quantized_variant_records_its_recipe_and_float_layers(
    parent: str, tmp_path: Path
):
    import mlflow
    from mlflow import MlflowClient

    from mlflow_tflite.config.variants import ConvertConfig
    from mlflow_tflite.convert import convert_variant

    x, _ = digits()
    cfg = ConvertConfig(quantization="int4_weight_only", keep_float=["conv"])
    conversion = convert_variant(tiny_cnn(), cfg)
    path = tmp_path / "model.tflite"
    path.write_bytes(conversion.flatbuffer)
    metrics = {"size_bytes": float(len(conversion.flatbuffer)),
               "keep_float_size_bytes": float(conversion.keep_float_size_bytes)}
    record = VariantRecord("int4-conv-float", "none", "int4_weight_only", metrics=metrics,
                           delegate="xnnpack", tflite_path=str(path),
                           measurement={"metrics": metrics, "conversion": conversion.metadata()})
    run_id = tracking.log_variant(parent, record, common_tags=TAGS, input_example=x[:2])
    run = MlflowClient().get_run(run_id)
    assert run.data.tags["quantization"] == "int4_weight_only"
    assert run.data.params["keep_float_layers"] == " | ".join(conversion.float_ops)
    assert "conv" in run.data.params["keep_float_layers"]
    assert run.data.metrics["keep_float_size_bytes"] > 0
    model_uri = run.data.tags["mlflow_tflite.model_uri"]
    section = mlflow.models.get_model_info(model_uri).flavors["tflite"]
    assert section["quantization"] == "int4_weight_only"
    assert section["recipe"] == conversion.recipe
    assert section["keep_float"]["regexes"] == ["conv"]
