"""The `optimize` flow end to end: real Prefect, MLflow (SQLite), TensorFlow and LiteRT."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from mlflow_tflite.config import ParamsError
from mlflow_tflite.tracking import METRICS, VariantRecord
from tests.flows.conftest import (
    FAILING_VARIANT,
    TINY_PARAMS,
    USER_MODEL,
    child_runs,
    module_workspace,
)

pytestmark = pytest.mark.slow

RUN_TAGS = ("technique", "quantization", "delegate", "data_version", "git_commit",
               "mlflow_tflite.variant")


@dataclass
class Workspace:
    root: Path
    uri: str

    def params(self, name: str = "params.yaml", **sections: Any) -> Path:
        """TINY_PARAMS on the user baseline, with whole sections replaced."""
        train = {**TINY_PARAMS["train"], "model": USER_MODEL}
        path = self.root / name
        path.write_text(yaml.safe_dump({**TINY_PARAMS, "train": train, **sections},
                                       sort_keys=False))
        return path


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A working directory with its own SQLite store and artifact cache for the module."""
    for root, uri in module_workspace(tmp_path_factory, "flow"):
        yield Workspace(root, uri)


def _run(workspace: Workspace, params: Path, overrides: list[str] | None = None) -> dict:
    from mlflow_tflite_flows.optimize import run_flow

    return run_flow(params, overrides)


@pytest.fixture(scope="module")
def first(workspace: Workspace) -> dict:
    variants = [*TINY_PARAMS["variants"], FAILING_VARIANT]
    return _run(workspace, workspace.params(variants=variants))


@pytest.fixture(scope="module")
def rerun(workspace: Workspace, first: dict) -> dict:
    return _run(workspace, workspace.root / "params.yaml")


@pytest.fixture(scope="module")
def one_changed(workspace: Workspace, rerun: dict) -> dict:
    # int8 with uint8 I/O instead of int8 I/O: a new recipe for that variant only.
    return _run(workspace, workspace.root / "params.yaml", ["variants.1.convert.io_type=uint8"])


def test_every_variant_is_a_child_run_with_every_design_metric_and_tag(first: dict):
    children = child_runs(first["parent_run_id"])
    ok = [v["name"] for v in TINY_PARAMS["variants"]]
    assert set(children) == {*ok, FAILING_VARIANT["name"]}
    for name in ok:
        run = children[name]
        assert run.info.status == "FINISHED"
        assert set(METRICS) <= set(run.data.metrics), name
        # XNNPACK refuses some sparse models; the delegate tag names whose latency is shown.
        primary = run.data.tags["delegate"]
        assert {f"{primary}/latency_p50_ms", "builtin/latency_p99_ms"} <= set(run.data.metrics)
        assert all(tag in run.data.tags for tag in RUN_TAGS)
        assert run.data.tags["data_version"] == first["data_version"]
    assert children["pruned-dynamic"].data.tags["technique"] == "prune"
    assert children["int8"].data.tags["quantization"] == "int8"
    assert children["pruned-dynamic"].data.metrics["sparsity"] >= 0.4
    # Decisions' figures on the validation split beside the reported test split's.
    fp32 = children["fp32"].data.metrics
    assert fp32["selection/accuracy_delta"] == 0.0
    # The fp32 variant is the baseline's fp32 file: 1.0 by definition, never timed against
    # itself (a noisy ratio above 1 would refuse it).
    assert fp32["latency_vs_fp32"] == fp32["latency_vs_fp32_ci_high"] == 1.0
    assert 0.0 < fp32["selection/accuracy"] <= 1.0
    assert fp32["selection/accuracy_delta_ci_low"] == fp32["selection/accuracy_delta_ci_high"] \
        == 0.0  # the same model: no noise
    int8 = children["int8"].data.metrics
    assert int8["accuracy_delta_ci_low"] <= int8["accuracy_delta"] <= int8["accuracy_delta_ci_high"]
    assert 0.0 <= int8["accuracy_mcnemar_p"] <= 1.0
    # Every child run carries its verdict, the same as the returned records' and the table's.
    verdicts = {n: r.data.tags.get("mlflow_tflite.verdict") for n, r in children.items()}
    assert verdicts == {v["name"]: VariantRecord.from_dict(v).verdict_line()
                        for v in first["variants"]}
    assert verdicts[FAILING_VARIANT["name"]].startswith("failed: ")
    assert list(verdicts.values()).count("champion") == 1
    table = Path(first["reports"]["markdown"]).read_text()
    assert all(verdict.split(":")[0] in table for verdict in verdicts.values())


def test_variant_models_load_and_predict_through_pyfunc(first: dict):
    import mlflow

    from mlflow_tflite.data import load_dataset

    x = load_dataset("data/prepared").x_test[:4]
    for name, run in child_runs(first["parent_run_id"]).items():
        if run.info.status != "FINISHED":
            continue
        model = mlflow.pyfunc.load_model(run.data.tags["mlflow_tflite.model_uri"])
        assert np.asarray(model.predict(x)).shape == (4, 10), name
        measurement = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/measurement.json")
        assert measurement["metrics"]["size_bytes"] == run.data.metrics["size_bytes"]


def test_parent_run_has_params_data_version_dataset_plot_and_tables(first: dict):
    from mlflow import MlflowClient

    client = MlflowClient()
    run = client.get_run(first["parent_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["train.epochs"] == "1"
    assert run.data.params["variants"] == "fp32,int8,pruned-dynamic,int16x8"
    assert not [key for key in run.data.params if key.startswith(("variants.", "mlflow."))]
    assert run.data.tags["data_version"] == first["data_version"]
    assert run.data.tags["git_commit"]
    assert 0.0 < run.data.metrics["baseline_accuracy"] <= 1.0
    assert {i.dataset.digest for i in run.inputs.dataset_inputs} == {first["data_version"][:36]}
    artifacts = {a.path for a in client.list_artifacts(first["parent_run_id"])}
    assert {"params.yaml", "pareto.png", "variants.csv", "variants.md",
            "variants.json"} <= artifacts


def test_children_and_their_logged_models_carry_the_variant_config_and_name(first: dict):
    from mlflow import MlflowClient

    client = MlflowClient()
    children = child_runs(first["parent_run_id"])
    pruned = children["pruned-dynamic"]
    assert pruned.data.params["convert.quantization"] == "dynamic"
    assert pruned.data.params["compress.prune.final_sparsity"] == "0.5"
    # The first conv and the 320-weight output layer stay dense by default.
    assert re.fullmatch(r"dense(_\d+)?", pruned.data.params["pruned_layers"])
    assert children["int8"].data.params["convert.io_type"] == "int8"
    models = {m.name: m for m in client.search_logged_models([pruned.info.experiment_id])
              if m.source_run_id in {c.info.run_id for c in children.values()}}
    assert set(models) == {"fp32", "int8", "pruned-dynamic"}
    assert models["pruned-dynamic"].params == pruned.data.params


def test_a_failing_variant_fails_only_itself(first: dict):
    import mlflow

    failed = child_runs(first["parent_run_id"])[FAILING_VARIANT["name"]]
    assert failed.info.status == "FAILED"
    assert failed.data.tags["mlflow_tflite.failed_step"] == "convert"
    assert "16x8-bit not yet supported for op: 'SIN'" in failed.data.tags["mlflow_tflite.error"]
    text = mlflow.artifacts.load_text(f"runs:/{failed.info.run_id}/error.txt")
    assert "Traceback" in text
    records = {r["name"]: r for r in first["variants"]}
    assert records[FAILING_VARIANT["name"]]["status"] == "failed"
    assert all(records[v["name"]]["status"] == "ok" for v in TINY_PARAMS["variants"])
    assert FAILING_VARIANT["name"] in first["decision"]["ignored"]


def test_reports_and_the_prefect_artifact_show_the_variants_and_decision(first: dict):
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    assert Path(first["reports"]["plot"]).read_bytes()[:4] == b"\x89PNG"
    assert "pruned-dynamic" in Path(first["reports"]["csv"]).read_text()

    async def latest() -> Any:
        async with get_client() as client:
            key = ArtifactFilterKey(any_=["mlflow-tflite-variants"])
            return await client.read_artifacts(artifact_filter=ArtifactFilter(key=key))

    artifacts = asyncio.run(latest())
    assert artifacts
    assert any("pruned-dynamic" in a.data and "Promotion" in a.data for a in artifacts)


def test_first_run_builds_everything(first: dict):
    ran = first["ran"]
    assert ran["prepare"] and ran["baseline"]
    built = [v["name"] for v in TINY_PARAMS["variants"]]
    assert ran["convert"] == built and ran["measure"] == built


def test_rerun_with_nothing_changed_retrains_and_rebuilds_nothing(first: dict, rerun: dict):
    ran = rerun["ran"]
    assert ran["prepare"] is False and ran["baseline"] is False
    # Only the failing variant is attempted again: failures are never stored.
    assert ran["convert"] == [] and ran["measure"] == []
    assert rerun["parent_run_id"] != first["parent_run_id"]
    children = child_runs(rerun["parent_run_id"])
    assert children["int8"].data.tags["mlflow_tflite.reused"] == "true"
    before = child_runs(first["parent_run_id"])["int8"].data.metrics
    assert children["int8"].data.metrics["size_bytes"] == before["size_bytes"]


def test_changing_one_variant_rebuilds_only_that_variant(one_changed: dict):
    ran = one_changed["ran"]
    assert ran["baseline"] is False
    assert ran["convert"] == ["int8"] and ran["measure"] == ["int8"]
    records = {r["name"]: r for r in one_changed["variants"]}
    assert records["int8"]["reused"] is False and records["fp32"]["reused"] is True


def test_the_flow_fails_when_no_variant_succeeds(workspace: Workspace, first: dict):
    from mlflow import MlflowClient

    params = workspace.params("failing.yaml", variants=[FAILING_VARIANT])
    with pytest.raises(RuntimeError, match="no variant succeeded"):
        _run(workspace, params)
    client = MlflowClient()
    experiment = client.get_experiment_by_name(TINY_PARAMS["mlflow"]["experiment"])
    (latest,) = client.search_runs([experiment.experiment_id],
                                   "tags.`mlflow_tflite.role` = 'flow'",
                                   order_by=["attributes.start_time DESC"], max_results=1)
    assert latest.info.status == "FAILED"


def test_bad_params_stop_the_flow_before_any_mlflow_run(workspace: Workspace):
    from mlflow import MlflowClient

    mlflow_section = {**TINY_PARAMS["mlflow"], "experiment": "bad-params"}
    params = workspace.params("bad.yaml", train={"epochs": -1}, mlflow=mlflow_section)
    with pytest.raises(ParamsError, match=r"train\.epochs"):
        _run(workspace, params)
    assert MlflowClient().get_experiment_by_name("bad-params") is None


def test_quantized_variants_log_their_per_layer_error_table_plot_and_snr(first: dict):
    import math

    from mlflow import MlflowClient

    from mlflow_tflite.measure.layers import TABLE_COLUMNS

    children = child_runs(first["parent_run_id"])
    for name in ("int8", "pruned-dynamic"):
        run = children[name]
        artifacts = {a.path for a in MlflowClient().list_artifacts(run.info.run_id)}
        assert {"layer_errors.json", "layer_errors.png"} <= artifacts, name
        table = MlflowClient().load_table(run.info.experiment_id, "layer_errors.json",
                                          run_ids=[run.info.run_id])
        assert list(table.columns[: len(TABLE_COLUMNS)]) == list(TABLE_COLUMNS)
        assert len(table) >= 3 and set(table["op"]) >= {"FULLY_CONNECTED"}
        metrics = run.data.metrics
        assert metrics["min_layer_snr_db"] <= metrics["output_snr_db"], name
    int8 = children["int8"].data.metrics
    assert 5 < int8["output_snr_db"] < 80 and math.isfinite(int8["min_layer_snr_db"])
    # fp32 has an output SNR (fidelity, measured for every variant) but no per-layer table.
    assert "min_layer_snr_db" not in children["fp32"].data.metrics
    fp32_artifacts = {a.path for a in MlflowClient().list_artifacts(children["fp32"].info.run_id)}
    assert "layer_errors.json" not in fp32_artifacts
