"""`data.source: synthetic` with a tf_keras `.h5` used as is (`train.epochs: 0`): inputs
shaped from the file's own input, the converter's schemes measured by fidelity, the
techniques skipped (they fine-tune on labels); a builder or more epochs are refused before
any run (real Prefect, MLflow, tf_keras and LiteRT)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from mlflow_tflite.cli import main
from tests.cli.test_run_baselines import _flow_runs, _run, _write
from tests.flows.conftest import child_runs
from tests.helpers import tiny_cnn

pytestmark = pytest.mark.slow

VARIANTS = [{"name": "fp32", "convert": {"quantization": "none"}},
            {"name": "int8", "convert": {"quantization": "int8"}},
            {"name": "pruned", "compress": {"prune": {}}}]


def test_a_tf_keras_h5_runs_on_synthetic_inputs_shaped_from_its_input(
    tracking_uri: str, tmp_path: Path
) -> None:
    from mlflow_tflite.data import load_dataset
    from mlflow_tflite.tracking.layout import SKIPPED_TAG

    model = tmp_path / "tiny.h5"
    tiny_cnn().save(model)
    params = _write(tmp_path / "params.yaml",
                    data={"source": "synthetic", "seed": 0, "max_samples": 60,
                          "output_dir": str(tmp_path / "prepared")},
                    train={"model": str(model), "epochs": 0}, variants=VARIANTS)

    assert _run(params) == 0

    assert load_dataset(tmp_path / "prepared").input_shape == (8, 8, 1)
    [parent] = _flow_runs()
    assert "baseline_accuracy" not in parent.data.metrics
    assert "pruned" in parent.data.tags[SKIPPED_TAG]
    children = child_runs(parent.info.run_id)
    assert set(children) == {"fp32", "int8"}
    for run in children.values():
        assert run.info.status == "FINISHED"
        assert not {"accuracy", "accuracy_delta"} & set(run.data.metrics)
    assert children["fp32"].data.metrics["output_snr_db"] > 100
    assert 15 < children["int8"].data.metrics["output_snr_db"] < 100


@pytest.mark.parametrize(("model", "epochs", "expected"), [
    ("builtin", 0, "train.model: data.source: synthetic shapes its inputs as a "
                   "model file's; builtin and module:function models are built for labelled "
                   "data"),
    ("tiny.h5", 2, "train.epochs: 2 trains a tf_keras model on labelled data; data.source is "
                   "synthetic (set train.epochs: 0)"),
])
def test_what_synthetic_inputs_cannot_feed_is_refused_before_any_run(
    tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str,
    epochs: int, expected: str,
) -> None:
    if model.endswith(".h5"):
        tiny_cnn().save(tmp_path / model)
        model = str(tmp_path / model)
    params = _write(tmp_path / "params.yaml", data={"source": "synthetic"},
                    train={"model": model, "epochs": epochs}, variants=VARIANTS[:1])

    assert main(["run", "--params", str(params)]) == 1

    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.endswith(expected)
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []
