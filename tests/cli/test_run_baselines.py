"""Baselines from other frameworks through `mlflow-tflite run`: a Keras 3 `.keras` file, a
float `.tflite` and a generic SavedModel, with the shipped params.yaml too (real Prefect,
MLflow, TensorFlow, Keras 3 and LiteRT).

No capsys here: Prefect's console log handler can bind to the stream of the test that
started its server, and a later test would then log into a closed stream; the tests read
what the run wrote (MLflow, reports/variants.md) instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pytest
import yaml
from prefect.testing.utilities import prefect_test_harness

from mlflow_tflite.cli import main
from tests.flows.conftest import child_runs
from tests.helpers import (
    keras3_classifier,
    landmark_tflite,
    old_style_tflite,
    tiny_cnn,
    to_tflite,
    two_head_saved_model,
)

pytestmark = pytest.mark.slow

FAST_BENCHMARK = {"delegates": ["xnnpack"], "warmup_runs": 1, "timed_runs": 3,
                  "cold_start": False}


def _write(path: Path, **sections: Any) -> Path:
    base = {"benchmark": FAST_BENCHMARK,
            "mlflow": {"experiment": "baselines", "registered_model_name": "baselines"}}
    path.write_text(yaml.safe_dump({**base, **sections}, sort_keys=False))
    return path


def _run(params: Path, *overrides: str) -> int:
    # A temporary Prefect API stopped with the test, while pytest still captures its logs.
    with prefect_test_harness(server_startup_timeout=180):
        return main(["run", "--params", str(params),
                     *(arg for o in overrides for arg in ("--set", o))])


def _flow_runs() -> list:
    from mlflow_tflite.tracking.layout import FLOW_ROLE, ROLE_TAG

    return mlflow.search_runs(search_all_experiments=True, output_format="list",
                              filter_string=f"tags.`{ROLE_TAG}` = '{FLOW_ROLE}'")


def test_a_keras3_model_is_fine_tuned_converted_and_measured(
    tracking_uri: str, tmp_path: Path
):
    model = str(keras3_classifier(tmp_path / "classifier.keras"))
    variants = [
        {"name": "fp32", "convert": {"quantization": "none"}},
        {"name": "int8", "convert": {"quantization": "int8", "io_type": "int8"}},
        {"name": "dynamic", "convert": {"quantization": "dynamic"}},
        {"name": "int4", "convert": {"quantization": "int4_weight_only"}},
    ]
    common = {"data": {"source": "digits", "seed": 0},
              "train": {"model": model, "epochs": 2, "seed": 0}}
    params = _write(tmp_path / "params.yaml", **common, variants=variants)
    assert _run(params) == 0
    [parent] = _flow_runs()
    assert parent.data.metrics["baseline_accuracy"] > 0.5
    # Fine-tuned with Keras 3 for train.epochs.
    curve = mlflow.MlflowClient().get_metric_history(parent.info.run_id, "baseline/loss")
    assert [m.step for m in curve] == [1, 2]
    children = child_runs(parent.info.run_id)
    assert set(children) == {"fp32", "int8", "dynamic", "int4"}
    for name, run in children.items():
        assert run.info.status == "FINISHED", name
        metrics = run.data.metrics
        assert {"accuracy", "accuracy_delta", "agreement", "output_snr_db", "output_cosine",
                "max_abs_diff", "size_bytes"} <= set(metrics), name
        assert run.data.tags["technique"] == "none"
    assert children["int8"].data.metrics["integer_only"] == 1.0
    assert children["int8"].data.metrics["size_bytes"] < children["fp32"].data.metrics[
        "size_bytes"] / 2
    assert children["int8"].data.metrics["output_snr_db"] > 15
    assert children["int4"].data.tags["quantization"] == "int4_weight_only"
    assert children["int4"].data.metrics["size_bytes"] < children["int8"].data.metrics[
        "size_bytes"]
    assert children["fp32"].data.metrics["accuracy_delta"] == 0.0


def test_a_float_tflite_with_synthetic_inputs_gets_fidelity_metrics_and_no_accuracy(
    tracking_uri: str, tmp_path: Path
):
    model = landmark_tflite(tmp_path / "landmarks.tflite")
    params = _write(
        tmp_path / "params.yaml",
        data={"source": "synthetic", "seed": 0, "max_samples": 120},
        train={"model": str(model)},
        variants=[{"name": "float", "convert": {"quantization": "none"}},
                  {"name": "int8w", "convert": {"quantization": "int8_weight_only"}}],
        promote={"constraints": {"min_output_snr_db": 30}},
    )
    assert _run(params) == 0
    header = (tmp_path / "reports" / "variants.md").read_text().splitlines()[0].split("|")
    assert [c.strip() for c in header[6:8]] == ["output_snr_db", "output_cosine"]
    assert "accuracy" not in {c.strip() for c in header}
    [parent] = _flow_runs()
    assert "baseline_accuracy" not in parent.data.metrics
    children = child_runs(parent.info.run_id)
    run = children["float"]
    metrics = run.data.metrics
    assert not {"accuracy", "accuracy_delta", "agreement"} & set(metrics)
    assert metrics["output_cosine"] == pytest.approx(1.0)
    assert metrics["max_abs_diff"] == 0.0 and metrics["output_snr_db"] > 100
    assert metrics["size_bytes"] == model.stat().st_size  # `none` is the file itself
    quantized = children["int8w"].data.metrics
    assert not {"accuracy", "accuracy_delta", "agreement"} & set(quantized)
    assert 30 < quantized["output_snr_db"] < 100 and quantized["output_cosine"] > 0.999
    assert quantized["size_bytes"] < metrics["size_bytes"]
    # Smallest among those within min_output_snr_db: the int8 weight-only variant.
    version = mlflow.MlflowClient().get_model_version_by_alias("baselines", "champion")
    assert version.run_id == children["int8w"].info.run_id


def test_a_chance_level_keras3_baseline_is_flagged_and_no_champion_moves(
    tracking_uri: str, tmp_path: Path
):
    import keras
    from mlflow.exceptions import MlflowException

    from mlflow_tflite.registry.gates import WARNING_TAG

    # Zero output weights: every digit gets the same scores, so the model answers one class.
    inputs = keras.Input((8, 8, 1), name="image")
    flat = keras.layers.Flatten()(inputs)
    outputs = keras.layers.Dense(10, activation="softmax", kernel_initializer="zeros")(flat)
    keras.Model(inputs, outputs).save(tmp_path / "untrained.keras")
    params = _write(tmp_path / "params.yaml",
                    data={"source": "digits", "seed": 0},
                    train={"model": str(tmp_path / "untrained.keras"), "epochs": 0},
                    variants=[{"name": "fp32"},
                              {"name": "int8", "convert": {"quantization": "int8"}}])
    assert _run(params) == 0
    [parent] = _flow_runs()
    assert parent.data.metrics["baseline_accuracy"] < 0.15
    assert "at chance level" in parent.data.tags[WARNING_TAG]
    assert {run.info.status for run in child_runs(parent.info.run_id).values()} == {"FINISHED"}
    with pytest.raises(MlflowException):
        mlflow.MlflowClient().get_model_version_by_alias("baselines", "champion")


SHIPPED = Path(__file__).resolve().parents[2] / "params.yaml"
# Timing settings only: what a user changes is train.model and data.source.
CHEAP = ("benchmark.delegates=[xnnpack]", "benchmark.timed_runs=3",
         "benchmark.warmup_runs=1", "benchmark.cold_start=false")


def _shipped_with(tmp_path: Path, model: Path, source: str) -> Path:
    """The shipped params.yaml, changed only in train.model and data.source."""
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["train"]["model"] = str(model)
    raw["data"]["source"] = source
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _skipped_everywhere(tmp_path: Path, skipped: dict[str, str]) -> None:
    """The skipped variants: a line each in the parent's tag, no child run, a `skipped`
    row with the reason in variants.csv and in `compare`."""
    import csv

    from mlflow_tflite.tracking.layout import SKIPPED_TAG

    [parent] = _flow_runs()
    assert parent.info.status == "FINISHED"
    tag = parent.data.tags[SKIPPED_TAG].splitlines()
    assert [line.partition(" (")[0] for line in tag] == list(skipped)
    for line in tag:
        name = line.partition(" (")[0]
        assert line.endswith(f": {skipped[name]}"), line
    children = child_runs(parent.info.run_id)
    names = [v["name"] for v in yaml.safe_load(SHIPPED.read_text())["variants"]]
    assert set(children) == set(names) - set(skipped)
    with open(tmp_path / "reports" / "variants.csv") as handle:
        rows = {row["variant"]: row for row in csv.DictReader(handle)}
    assert list(rows) == names
    for name, reason in skipped.items():
        assert (rows[name]["status"], rows[name]["error"]) == ("skipped", reason)
    assert main(["compare", "--format", "csv", "--output", str(tmp_path / "compare.csv")]) == 0
    with open(tmp_path / "compare.csv") as handle:
        compared = {row["variant"]: row["status"] for row in csv.DictReader(handle)}
    assert compared == {n: "skipped" if n in skipped else "ok" for n in names}
    # Promotion reads child runs only: the champion is a built variant.
    version = mlflow.MlflowClient().get_model_version_by_alias("mnist-classifier", "champion")
    assert version.run_id in {run.info.run_id for run in children.values()}


TFMOT_VARIANTS = {
    "pruned-int8": "pruning", "clustered-int8": "clustering",
    "qat-int8": "quantization-aware training", "pruned-clustered-int8": "pruning",
    "pcqat-int8": "pruning", "pruned-int4": "pruning",
}


def test_a_keras3_model_in_the_shipped_params_finishes_every_variant_through_its_twin(
    tracking_uri: str, tmp_path: Path
):
    from mlflow_tflite.tracking.layout import KERAS3_TWIN_TAG, SKIPPED_TAG

    model = keras3_classifier(tmp_path / "classifier.keras")
    # builtin too: XNNPACK refuses pruned-int8's sparse format (the shipped params say so).
    assert _run(_shipped_with(tmp_path, model, "digits"), "train.epochs=1", *CHEAP,
                "benchmark.delegates=[xnnpack,builtin]") == 0
    [parent] = _flow_runs()
    assert parent.info.status == "FINISHED" and not parent.data.tags.get(SKIPPED_TAG)
    twin = parent.data.tags[KERAS3_TWIN_TAG]
    assert twin.startswith("tf_keras twin, max abs output difference ")
    assert float(twin.split("difference ")[1].split()[0]) < 1e-5
    children = child_runs(parent.info.run_id)
    names = [v["name"] for v in yaml.safe_load(SHIPPED.read_text())["variants"]]
    assert set(children) == set(names)
    assert {name: run.info.status for name, run in children.items()} == {
        name: "FINISHED" for name in names}
    assert children["pruned-int8"].data.metrics["sparsity"] > 0.5


def test_a_tflite_model_in_the_shipped_params_runs_what_starts_from_a_float_tflite(
    tracking_uri: str, tmp_path: Path
):
    model = tmp_path / "classifier.tflite"
    model.write_bytes(to_tflite(tiny_cnn()))
    assert _run(_shipped_with(tmp_path, model, "digits"), *CHEAP) == 0
    converter = ("needs a Keras model (the TFLite converter); train.model is a .tflite file: "
                 "use none or an ai-edge-quantizer scheme")
    _skipped_everywhere(tmp_path, {
        **{s: f"{s} {converter}" for s in ("dynamic", "float16", "int8", "int16x8")},
        **{name: f"{noun} needs a tf_keras model; train.model is a .tflite file"
           for name, noun in TFMOT_VARIANTS.items()}})


def test_a_generic_saved_model_with_two_inputs_and_two_outputs_runs_on_synthetic_data(
    tracking_uri: str, tmp_path: Path
):
    from mlflow_tflite.tracking.layout import SKIPPED_TAG

    model = two_head_saved_model(tmp_path / "two_heads")
    params = _write(
        tmp_path / "params.yaml",
        data={"source": "synthetic", "seed": 0, "max_samples": 120},
        train={"model": str(model), "epochs": 3},  # nothing trains a SavedModel: ignored
        variants=[{"name": "fp32"},
                  {"name": "dynamic", "convert": {"quantization": "dynamic"}},
                  {"name": "int8", "convert": {"quantization": "int8"}},
                  {"name": "int16x8", "convert": {"quantization": "int16x8"}},
                  {"name": "int8w", "convert": {"quantization": "int8_weight_only"}},
                  {"name": "pruned", "compress": {"prune": {}}}],
        promote={"constraints": {"min_output_snr_db": 20}},
    )
    assert _run(params) == 0
    [parent] = _flow_runs()
    assert parent.data.tags[SKIPPED_TAG] == (
        "pruned (prune, none): pruning needs a tf_keras model; train.model is a TensorFlow "
        "SavedModel")
    children = child_runs(parent.info.run_id)
    assert set(children) == {"fp32", "dynamic", "int8", "int16x8", "int8w"}
    # The converter cannot take the int32 input's CAST to 16x8: a failed variant, with why.
    assert children["int16x8"].info.status == "FAILED"
    assert "not yet supported for op: 'CAST'" in children["int16x8"].data.tags[
        "mlflow_tflite.error"]
    fp32 = children["fp32"].data.metrics
    for name in ("dynamic", "int8", "int8w"):
        metrics = children[name].data.metrics
        assert children[name].info.status == "FINISHED", name
        # Two outputs that are not class scores of one: fidelity per output, no agreement.
        assert not {"accuracy", "agreement"} & set(metrics), name
        per_output = [metrics["output_snr_db/logits"], metrics["output_snr_db/score"]]
        assert metrics["output_snr_db"] == pytest.approx(min(per_output)), name
        assert 20 < min(per_output) < 100, name
        assert metrics["size_bytes"] < fp32["size_bytes"], name
    assert fp32["output_snr_db/logits"] > 100 and fp32["output_snr_db/score"] > 100
    version = mlflow.MlflowClient().get_model_version_by_alias("baselines", "champion")
    assert version.run_id in {children[n].info.run_id for n in ("dynamic", "int8", "int8w")}


def test_an_old_style_float16_stored_tflite_is_quantized_and_a_no_op_scheme_fails(
    tracking_uri: str, tmp_path: Path
):
    from mlflow_tflite.measure.quality import SNR_CEILING_DB
    from mlflow_tflite.tracking.layout import ERROR_TAG, WEIGHTS_STORAGE_TAG

    # Both kinds ai-edge-quantizer alone returns unchanged, in one file: float16 weights
    # behind DEQUANTIZE ops, op codes in the deprecated field.
    model = tmp_path / "old_float16.tflite"
    model.write_bytes(old_style_tflite(to_tflite(tiny_cnn(), "float16")))
    params = _write(
        tmp_path / "params.yaml",
        data={"source": "synthetic", "seed": 0, "max_samples": 60},
        train={"model": str(model)},
        variants=[{"name": "float", "convert": {"quantization": "none"}},
                  {"name": "int8w", "convert": {"quantization": "int8_weight_only"}},
                  {"name": "int4w", "convert": {"quantization": "int4_weight_only"}},
                  {"name": "all-float", "convert": {"quantization": "int8_weight_only",
                                                    "keep_float": [".*"]}}],
    )
    assert _run(params) == 0
    [parent] = _flow_runs()
    assert parent.data.tags[WEIGHTS_STORAGE_TAG] == "float16"
    children = child_runs(parent.info.run_id)
    given = model.stat().st_size
    assert children["float"].data.metrics["size_bytes"] == given
    for name, most in (("int8w", 0.7), ("int4w", 0.45)):
        run = children[name]
        assert run.info.status == "FINISHED", name
        metrics = run.data.metrics
        # Ratios against the file given: float16-stored, so int8 is about 2x, not 4x.
        assert metrics["size_bytes"] < most * given, name
        assert metrics["compression_ratio"] == pytest.approx(given / metrics["size_bytes"])
        assert 10 < metrics["output_snr_db"] < SNR_CEILING_DB, name
        assert 10 < metrics["min_layer_snr_db"] < SNR_CEILING_DB, name
    failed = children["all-float"]
    assert failed.info.status == "FAILED"
    assert failed.data.tags[ERROR_TAG].startswith(
        "ConversionError: int8_weight_only quantized 0 of 3 weight tensors: "
        "ai-edge-quantizer left every one in float (with convert.keep_float)")
    assert "output_snr_db" not in failed.data.metrics


def test_a_dynamic_range_tflite_is_named_as_such_from_run_to_registry(
    tracking_uri: str, tmp_path: Path
):
    from mlflow_tflite.flavor.spec import infer_quantization
    from mlflow_tflite.tracking.layout import (
        BASELINE_QUANTIZATION_TAG,
        MODEL_CARD_TAG,
        QUANTIZATION_TAG,
    )

    # Written by TensorFlow's own converter, as published models are.
    content = to_tflite(tiny_cnn(), "dynamic")
    assert infer_quantization(content) == "dynamic"
    model = tmp_path / "published_dynamic.tflite"
    model.write_bytes(content)
    params = _write(
        tmp_path / "params.yaml",
        data={"source": "digits", "seed": 0, "max_samples": 300},
        train={"model": str(model), "epochs": 0},
        variants=[{"name": "given", "convert": {"quantization": "none"}},
                  {"name": "int4w", "convert": {"quantization": "int4_weight_only"}}],
    )
    assert _run(params) == 0
    [parent] = _flow_runs()
    assert parent.data.tags[BASELINE_QUANTIZATION_TAG] == "dynamic"
    children = child_runs(parent.info.run_id)
    given = children["given"]
    assert given.data.tags[QUANTIZATION_TAG] == "dynamic"
    assert given.data.tags[BASELINE_QUANTIZATION_TAG] == "dynamic"
    # Ratios are against the quantized file given.
    assert given.data.metrics["compression_ratio"] == pytest.approx(1.0)
    assert given.data.metrics["size_bytes"] == len(content)
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias("baselines", "champion")
    assert version.tags[BASELINE_QUANTIZATION_TAG] == "dynamic"
    model_id = version.tags[MODEL_CARD_TAG].split("/")[1]
    location = client.get_logged_model(model_id).artifact_location
    text = mlflow.artifacts.load_text(f"{location}/model_card.md")
    assert "- baseline: a dynamic-quantized .tflite" in text
    assert ("the converter's schemes (dynamic, int8, int16x8, float16), and lower precision "
            "for the weights already quantized, need the float source model") in text
    # What the note says remains: int4 on the weights the file left in float.
    assert children["int4w"].info.status == "FINISHED"
    assert children["int4w"].data.metrics["size_bytes"] < len(content)
