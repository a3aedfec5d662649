"""Multi-fidelity pruning through a real Optuna storage: the cumulative epoch, the value's
direction, and rungs shared by every process that reports to the study."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest

from mlflow_tflite.config import parse_params
from mlflow_tflite.search import fidelity
from mlflow_tflite.search import study as studies

SPACE = {"prune": {"final_sparsity": {"low": 0.5, "high": 0.9}}}
SH = {"type": "successive_halving", "min_resource": 1, "reduction_factor": 2}


def _params(**search: object):
    return parse_params({"variants": [{"name": "fp32"}],
                         "search": {"space": SPACE, **search}})


def test_the_epoch_is_cumulative_across_steps_and_a_replayed_last_epoch() -> None:
    count = fidelity.EpochCounter()
    # prune reused from the store: only its last epoch (3) is replayed; then cluster runs.
    assert [count("prune", 3), count("cluster", 1), count("cluster", 2), count("qat", 1)] == [
        3, 4, 5, 6]


def test_the_last_epoch_counts_every_step_and_the_recovery() -> None:
    params = parse_params({"variants": [{"name": "pcqat", "compress": {
        "prune": {"final_sparsity": 0.5, "epochs": 3, "recover_epochs": 2},
        "cluster": {"clusters": 8, "epochs": 2}, "qat": {"epochs": 1}},
        "convert": {"quantization": "int8"}}]})
    assert fidelity.total_epochs(params.variants[0]) == 8


def test_the_value_follows_the_study_direction() -> None:
    assert fidelity.oriented(0.9, maximize=True) == 0.9
    assert fidelity.oriented(0.9, maximize=False) == pytest.approx(0.1)


def test_the_default_pruner_keeps_its_study_name_and_reports_nothing() -> None:
    shipped = _params()
    assert isinstance(studies.make_pruner(shipped), optuna.pruners.NopPruner)
    assert not shipped.search.pruner.multi_fidelity
    assert studies.study_name(_params(pruner={"type": "threshold"}), "a" * 64, "b" * 24) == (
        studies.study_name(shipped, "a" * 64, "b" * 24))
    assert studies.study_name(_params(pruner=SH), "a" * 64, "b" * 24) != (
        studies.study_name(shipped, "a" * 64, "b" * 24))
    assert fidelity.Reporter(shipped, "any", "sqlite:///nowhere.db", 0).prune(4, 0.1) is None


def test_the_type_picks_optunas_pruner_with_the_given_settings() -> None:
    halving = studies.make_pruner(_params(pruner=SH))
    assert isinstance(halving, optuna.pruners.SuccessiveHalvingPruner)
    assert (halving._min_resource, halving._reduction_factor) == (1, 2)
    hyperband = studies.make_pruner(_params(pruner={"type": "hyperband", "max_val_drop": None}))
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    assert (hyperband._min_resource, hyperband._reduction_factor) == (1, 3)  # Optuna's
    off = _params(pruner={**SH, "enabled": False})
    assert isinstance(studies.make_pruner(off), optuna.pruners.NopPruner)


def _report(url: str, name: str, number: int, values: list[float]) -> str | None:
    """What another process reports: its own storage connection, its trial's epochs."""
    code = (f"from mlflow_tflite.config import parse_params\n"
            f"from mlflow_tflite.search import fidelity\n"
            f"p = parse_params({{'variants': [{{'name': 'fp32'}}], 'search': "
            f"{{'space': {SPACE!r}, 'pruner': {SH!r}}}}})\n"
            f"r = fidelity.Reporter(p, {name!r}, {url!r}, {number})\n"
            f"print([r.prune(e, v) for e, v in enumerate({values!r}, start=1)][-1])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    return None if out == "None" else out


def test_rungs_are_shared_by_the_processes_of_a_team(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    params = _params(pruner=SH)
    study = studies.open_study(params, "team", url)
    first, second, third = (study.ask() for _ in range(3))
    # Two processes report a good and a poor trial; this process's third trial is judged
    # against both, on the study's storage: the best at epoch 1 (rung 0), but at epoch 2
    # (rung 1) behind the first trial, and only the best half of a rung goes on.
    assert _report(url, "team", first.number, [0.9, 0.95]) is None
    reason = _report(url, "team", second.number, [0.5])
    assert reason is not None and reason.startswith("successive_halving at epoch 1 (rung 0)")
    mine = fidelity.Reporter(params, "team", url, third.number)
    assert mine.prune(1, 0.92) is None
    assert mine.prune(2, 0.93) == ("successive_halving at epoch 2 (rung 1): val_accuracy "
                                   "0.9300 is not among the best of the trials that reached "
                                   "this rung")
    # A trial's last epoch is reported (it ranks the others) but never stops it.
    fourth = study.ask()
    last = fidelity.Reporter(params, "team", url, fourth.number)
    assert last.prune(1, 0.1, last=True) is None
    values = {t.number: t.intermediate_values for t in study.get_trials()}
    assert values[fourth.number] == {1: pytest.approx(0.9)}
    assert values[first.number] == {1: pytest.approx(0.1), 2: pytest.approx(0.05)}
