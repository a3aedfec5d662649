"""A search whose space loses a technique to the probe (`Technique.probe`): tfmot's
`quantize_model` refuses the baseline's `Rescaling` layer, so `qat` leaves the space before
any trial samples it, with the reason said once, and the search completes on the rest
(real Prefect, Optuna storage, MLflow, TensorFlow and LiteRT on the digits data)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.flows.conftest import TINY_PARAMS, module_workspace

pytestmark = pytest.mark.slow

SPACE = {
    "prune": {"use": {"choices": [True, False]}, "final_sparsity": {"low": 0.3, "high": 0.6},
              "epochs": 1},
    "qat": {"use": {"choices": [True, False]}, "epochs": 1},
    "convert": {"quantization": {"choices": ["int8", "dynamic"]}},
}
DROPPED = ("search.space: dropped qat (quantization-aware training cannot wrap the baseline: "
           "Layer rescaling:")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    for path, _ in module_workspace(tmp_path_factory, "search-probe"):
        yield path


class _Lines(logging.Handler):
    """The flow's printed lines (`log_prints`: Prefect's flow-run logger, which does not
    propagate to pytest's log capture)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_a_technique_the_probe_refuses_leaves_the_space_and_the_search_completes(
    root: Path,
) -> None:
    import optuna

    from mlflow_tflite.search.runs import trial_runs
    from mlflow_tflite_flows.search import run_search

    params = root / "params.yaml"
    benchmark = {**TINY_PARAMS["benchmark"], "cold_start": False}
    params.write_text(yaml.safe_dump({
        **TINY_PARAMS, "variants": TINY_PARAMS["variants"][:1], "benchmark": benchmark,
        "train": {**TINY_PARAMS["train"], "model": "tests.flows.models:rescaled_cnn"},
        "search": {"space": SPACE, "budget": {"trials": 2, "minutes": None},
                   "constraints": {"max_accuracy_drop": 0.5}},
    }))

    printed = _Lines()
    logger = logging.getLogger("prefect.flow_runs")
    logger.addHandler(printed)
    try:
        result = run_search(params)
    finally:
        logger.removeHandler(printed)

    assert result["ran"] == 2
    assert [line for line in printed.lines if line.startswith(DROPPED)] == [
        line for line in printed.lines if "dropped qat" in line], printed.lines
    assert len([line for line in printed.lines if line.startswith(DROPPED)]) == 1
    study = optuna.load_study(study_name=result["study"], storage=result["storage"])
    sampled = {name for trial in study.trials for name in trial.params}
    assert sampled and not {name for name in sampled if name.startswith("qat")}, sampled
    assert {"prune.use", "convert.quantization"} <= sampled
    runs = trial_runs(result["parent_run_id"])
    assert sorted(runs) == [0, 1]
    for run in runs.values():
        assert run.info.status == "FINISHED"
        assert not [key for key in run.data.params if key.startswith("qat")]
        assert run.data.tags["technique"] in ("none", "prune")
