"""The model card of a promoted version, from a flow run logged by the tracking module with
real measurements (real LiteRT), on SQLite and a PostgreSQL-backed `mlflow server`."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient

from mlflow_tflite import tracking
from mlflow_tflite.config.benchmark import BenchmarkConfig
from mlflow_tflite.config.promote import PromoteConfig
from mlflow_tflite.intervals import with_interval
from mlflow_tflite.measure import measure_variant, predict_outputs
from mlflow_tflite.registry import promote_flow_run
from mlflow_tflite.registry.card import CARD_ARTIFACT, logged_model_id
from mlflow_tflite.tracking import VariantRecord
from mlflow_tflite.tracking.layout import MODEL_CARD_TAG
from tests.helpers import digits, tiny_cnn, to_tflite

PARAMS = {
    "data": {"source": "digits"},
    "train": {"model": "builtin", "epochs": 1},
    "variants": [
        {"name": "fp32", "convert": {"quantization": "none"}},
        {"name": "int8", "convert": {"quantization": "int8", "io_type": "int8"}},
    ],
}
BENCHMARK = BenchmarkConfig(delegates=["xnnpack", "builtin"], warmup_runs=1, timed_runs=3,
                            cold_start=True)
POLICY = PromoteConfig.model_validate({"objective": ["size_bytes"], "constraints": {}})


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """fp32 and int8 files with their real measurements on the digits."""
    cnn = tiny_cnn()
    x, y = digits()
    directory = tmp_path_factory.mktemp("card")
    fp32 = to_tflite(cnn)
    reference = predict_outputs(fp32, x[:200])
    made = {}
    for name, content in (("fp32", fp32), ("int8", to_tflite(cnn, "int8", "int8"))):
        path = directory / f"{name}.tflite"
        path.write_bytes(content)
        made[name] = (path, measure_variant(
            path, x[:200], y[:200], config=BENCHMARK, baseline_accuracy=0.9,
            reference_outputs=reference, fp32_size_bytes=len(fp32)))
    return made


def _flow_run(models: dict[str, tuple]) -> str:
    experiment = tracking.ensure_experiment("card-tests")
    tags = {"data_version": "data-v9", "git_commit": "c0ffee"}
    parent = tracking.start_parent_run(experiment, "optimize-card", tags)
    tracking.log_parent(parent, PARAMS, baseline_accuracy=0.9)
    for variant in PARAMS["variants"]:
        path, measurement = models[variant["name"]]
        record = VariantRecord(
            variant["name"], "none", variant["convert"]["quantization"],
            metrics=measurement.metrics(), delegate=measurement.delegate,
            measurement=measurement.to_dict(), tflite_path=str(path),
            params=tracking.variant_params(variant),
        )
        tracking.log_variant(parent, record, common_tags=tags)
    tracking.runs.end_run(parent, ok=True)
    return parent


def test_every_promoted_version_has_a_model_card_summarised_in_its_description(
    backend: str, models: dict[str, tuple]
):
    parent = _flow_run(models)
    name = f"card-{parent[:8]}"
    decision = promote_flow_run(parent, name, POLICY)
    client = MlflowClient()
    version = client.get_model_version_by_alias(name, "champion")
    model_id = logged_model_id(version)
    assert version.tags[MODEL_CARD_TAG] == f"models:/{model_id}/{CARD_ARTIFACT}"
    # On the version's logged model: what the registry's artifact view lists.
    listed = [a.path for a in client.list_logged_model_artifacts(model_id)]
    assert CARD_ARTIFACT in listed
    location = client.get_logged_model(model_id).artifact_location
    card = mlflow.artifacts.load_text(f"{location}/{CARD_ARTIFACT}")
    _, int8 = models["int8"]
    metrics = int8.metrics()
    expected = [
        f"# Model card: {name} version {version.version} (int8)",
        "- source: digits", "- data version: data-v9",
        "- model: builtin, epochs 1", "- baseline test accuracy: 0.9000",
        "- technique: none, quantization: int8", "| `convert.io_type` | int8 |",
        f"| size (bytes) | {int(metrics['size_bytes']):,} |",
        f"| gzip size (bytes) | {int(metrics['gzip_size_bytes']):,} |",
        f"| test accuracy | {with_interval(metrics, 'accuracy', 'card')} |",
        f"| top-1 agreement with fp32 | {with_interval(metrics, 'agreement', 'card')} |",
        "| fidelity: max abs output difference vs fp32 |",
        "Benchmark settings: threads 1, warm-up 1, timed runs 3",
        f"CPU {int8.runtime['cpu_model']}",
        f"int8 instructions {int8.runtime['cpu_int8']}),",
        f"| xnnpack | {metrics['xnnpack/latency_p50_ms']:.4f} | "
        f"{metrics['xnnpack/latency_p90_ms']:.4f} | {metrics['xnnpack/latency_p99_ms']:.4f} "
        "| primary |",
        "| builtin |",
        f"- cold start: {metrics['cold_start_ms']:.2f} ms",
        f"- peak memory over baseline: {metrics['peak_memory_mb']:.2f} MB",
        # The intervals and McNemar's p in words, one line each.
        "How sure these numbers are (an interval over examples resamples the 200 test "
        "examples, paired with the fp32 model's outputs on the same examples):",
        f"- test accuracy: {metrics['accuracy']:.4f}; measured again, it would most likely "
        f"fall between {metrics['accuracy_ci_low']:.4f} and {metrics['accuracy_ci_high']:.4f} "
        "(95% interval).",
        f"- accuracy delta vs Keras baseline: {metrics['accuracy_delta']:.4f}; measured again",
        f"- McNemar's test of the accuracy change against fp32: p = "
        f"{metrics['accuracy_mcnemar_p']:.2g}. Were both equally accurate, the images only "
        "one of them gets right would split this unevenly ",
        "- integer-only: yes", "- GPU delegate compatible: ",
        "- runs on: xnnpack, builtin",
        "- accuracy vs size: on the Pareto front; front: ",
        "- accuracy vs p50 latency: ",
        decision.target().sentence(False),
        "- code commit: c0ffee",
        f"- flow run: {parent}",
    ]
    missing = [line for line in expected if line not in card]
    assert not missing, f"{missing} not in:\n{card}"
    assert metrics["accuracy_ci_low"] < metrics["accuracy_ci_high"]  # int8 flips some digits
    assert " [" in with_interval(metrics, "accuracy", "card")
    assert version.description.startswith("int8 (none, int8): ")
    assert f"Full model card: {CARD_ARTIFACT}" in version.description
    assert version.description.endswith(decision.summary)


def test_the_card_names_the_pruned_layers_and_why_the_others_stayed_dense() -> None:
    from mlflow_tflite.registry.card import CardFacts, render

    layers = [
        {"name": "stem", "weights": 144, "pruned": False,
         "reason": "first convolution (layers.first_conv: false)"},
        {"name": "block2_expand", "weights": 1536, "pruned": True, "reason": ""},
        {"name": "head", "weights": 8192, "pruned": True, "reason": ""},
    ]
    card = render(CardFacts(
        model_name="m", version="1", variant="pruned-int8", run_id="r", flow_run_id=None,
        tags={"technique": "prune", "quantization": "int8"}, params={}, metrics={},
        measurement={"compression": {"prune_layers": layers}},
    ))
    assert ("- technique: prune, quantization: int8\n"
            "- pruned layers: 2 of 3 (99% of their weights): block2_expand, head\n"
            "- kept dense: stem (first convolution (layers.first_conv: false))\n") in card
