"""`mlflow-tflite run`: params errors in one line before any work; the summary it prints."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import yaml

from mlflow_tflite.cli import main
from tests.flows.conftest import TINY_PARAMS


def _write(path: Path, params: dict) -> Path:
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    return lines[-1]


@pytest.mark.parametrize(
    ("change", "overrides", "message"),
    [
        ({"train": {"epochs": -1}}, [], "train.epochs: Input should be greater than or equal to 0"),
        ({"benchmark": {"timed_runs": 5, "typo": 1}}, [], "benchmark.typo: unknown key"),
        ({}, ["variants.9.name=x"], "no list item variants.9"),
        ({}, ["train.epochs"], "expected KEY=VALUE"),
        (
            {"variants": [{"name": "pc", "compress": {
                "prune": {"final_sparsity": 0.5},
                "cluster": {"clusters": 8, "preserve_sparsity": False}}}]},
            [],
            "variants[0]: compress.cluster.preserve_sparsity is false",
        ),
    ],
)
def test_bad_params_fail_in_one_line_naming_the_key_and_create_no_mlflow_run(
    tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    change: dict, overrides: list[str], message: str,
):
    params = _write(tmp_path / "params.yaml", {**TINY_PARAMS, **change})
    argv = ["run", "--params", str(params)] + [f"--set={o}" for o in overrides]
    assert main(argv) == 1
    line = _error_line(capsys)
    assert line.startswith("mlflow-tflite run: error: ") and message in line
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []
    assert not (tmp_path / "data").exists()


def test_a_missing_params_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["run", "--params", str(tmp_path / "nope.yaml")]) == 1
    assert "nope.yaml: params file not found" in _error_line(capsys)


def test_only_prepare_writes_the_prepared_data_without_mlflow_or_prefect(
    tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    from mlflow_tflite.data import load_dataset

    params = _write(tmp_path / "params.yaml", TINY_PARAMS)
    assert main(["run", "--params", str(params), "--only", "prepare"]) == 0
    version = load_dataset(tmp_path / "data/prepared").version
    assert f"(data version {version})" in capsys.readouterr().out
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []


@pytest.mark.slow
def test_run_prints_progress_the_variants_table_the_decision_and_the_ui_command(
    tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    from prefect.testing.utilities import prefect_test_harness

    two = {**TINY_PARAMS, "variants": TINY_PARAMS["variants"][:2]}
    params = _write(tmp_path / "params.yaml", two)
    # A temporary Prefect API stopped with the test (an embedded one would outlive pytest's
    # captured streams and log into them at exit).
    with prefect_test_harness(server_startup_timeout=180):
        argv = ["run", "--params", str(params), "--set", "benchmark.cold_start=false"]
        assert main(argv) == 0
    out = capsys.readouterr().out
    table = out[out.index("Variants of MLflow run"):]
    header = table.splitlines()[1].split()
    assert header == ["variant", "technique", "quantization", "size_bytes", "gzip_size_bytes",
                      "accuracy", "accuracy_delta", "latency_p50_ms", "latency_vs_fp32",
                      "output_snr_db", "delegate", "verdict"]
    assert [line.split()[0] for line in table.splitlines()[2:4]] == ["fp32", "int8"]
    assert "baseline trained; built 2, measured 2, reused 0 of 2 variants" in out
    assert "Promotion: Promotion of flow run" in out
    experiment = mlflow.get_experiment_by_name(TINY_PARAMS["mlflow"]["experiment"])
    assert (f"MLflow UI: mlflow ui --backend-store-uri {tracking_uri}, then open "
            f"http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}"
            "?workflowType=machine_learning") in out
    assert (tmp_path / "reports" / "metrics.json").is_file()
    # The CPU note follows the measurement: said exactly when int8 lost to fp32 on a CPU
    # without an int8 dot-product instruction.
    from mlflow_tflite.measure.cpu import cpu_int8_features, int8_slower_note

    [int8] = mlflow.search_runs([experiment.experiment_id], "tags.quantization = 'int8'",
                                order_by=["start_time DESC"], max_results=1,
                                output_format="list")
    expected = int8_slower_note([("int8", int8.data.metrics["latency_vs_fp32"])],
                                cpu_int8_features())
    assert (f"Note: {expected}" in out) if expected else ("Note: every int8" not in out)


@pytest.mark.slow
def test_a_rerun_with_nothing_changed_shows_the_last_run_without_running_the_flow(
    tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    from prefect.testing.utilities import prefect_test_harness

    from mlflow_tflite import checks
    from mlflow_tflite.pipeline import ArtifactStore, keys
    from mlflow_tflite.tracking.layout import INPUTS_KEY_TAG

    params = _write(tmp_path / "params.yaml",
                    {**TINY_PARAMS, "variants": TINY_PARAMS["variants"][:2]})
    argv = ["run", "--params", str(params), "--set", "benchmark.cold_start=false"]
    with prefect_test_harness(server_startup_timeout=180):
        assert main(argv) == 0
        [first] = _flow_runs()
        capsys.readouterr()

        # Nothing changed: no flow, no new MLflow run; the last run's table and decision.
        (tmp_path / "reports" / "metrics.json").unlink()
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert f"Nothing changed since MLflow run {first.info.run_id}" in out
        assert "built 0, measured 0, reused 2 of 2 variants" in out
        assert "Promotion: Promotion of flow run " + first.info.run_id in out
        assert [r.info.run_id for r in _flow_runs()] == [first.info.run_id]
        assert (tmp_path / "reports" / "metrics.json").is_file()  # a removed report is back

        # The key on the run is what the store answers for these params, and only them.
        store = ArtifactStore(".mlflow_tflite/cache")
        same = checks.load_checked_params(params, ["benchmark.cold_start=false"])
        assert keys.inputs_key(same, store) == first.data.tags[INPUTS_KEY_TAG]
        changed = checks.load_checked_params(params, ["benchmark.timed_runs=6"])
        assert keys.inputs_key(changed, store) is None

        # --force runs the flow again: a new run, every step reused.
        assert main([*argv, "--force"]) == 0
        assert "built 0, measured 0, reused 2 of 2 variants" in capsys.readouterr().out
        assert len(_flow_runs()) == 2


def _flow_runs() -> list:
    from mlflow_tflite.tracking.layout import FLOW_ROLE, ROLE_TAG

    return mlflow.search_runs(search_all_experiments=True, output_format="list",
                              filter_string=f"tags.`{ROLE_TAG}` = '{FLOW_ROLE}'")


def test_bad_data_is_a_one_line_error(
    tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    data = {**TINY_PARAMS["data"], "source": str(tmp_path / "missing.npz")}
    params = _write(tmp_path / "params.yaml", {**TINY_PARAMS, "data": data})
    assert main(["run", "--params", str(params), "--only", "prepare"]) == 1
    line = _error_line(capsys)
    assert line.startswith("mlflow-tflite run: error: ") and "missing.npz" in line
