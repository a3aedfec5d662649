"""Ctrl-C (SIGINT to the process group) or SIGTERM at every stage of a real `mlflow-tflite
run`, `search` and `schedule` subprocess: `interrupted`, status 130 within 5 s, no alias
moved after the signal, the runs FAILED with the tag, no process left.

Each stage is reached by waiting on the command's own log lines. Before the fix, a signal
while the variants built in task threads waited for every started build: Prefect's thread
runner joins its threads when the flow ends (`ThreadPoolTaskRunner.cancel_all`).
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import yaml

from mlflow_tflite.tracking.layout import ERROR_TAG, FLOW_ROLE, ROLE_TAG
from tests.cli.faults import Command, store_client, wait_gone
from tests.flows.conftest import TINY_PARAMS

# Timed to the second: with another test beside them on 2 cores, a signal's cleanup waits
# for the CPU (make test runs these alone).
pytestmark = [pytest.mark.slow, pytest.mark.alone]

# Builds that take a few seconds each (a 3-epoch baseline, pruning and QAT fine-tunes), so
# a signal lands while one trains in a task thread and the others wait for their turn.
PARAMS = {
    **TINY_PARAMS,
    "train": {**TINY_PARAMS["train"], "epochs": 3},
    "variants": [
        *TINY_PARAMS["variants"][:2],
        {"name": "pruned-int8", "compress": {"prune": {"final_sparsity": 0.5, "epochs": 2}},
         "convert": {"quantization": "int8"}},
        {"name": "qat-int8", "compress": {"qat": {"epochs": 2}},
         "convert": {"quantization": "int8"}},
    ],
}
MODEL = PARAMS["mlflow"]["registered_model_name"]

# stage -> (the line that says the stage runs, the signal)
STAGES = {
    "data": ("Task run 'prepare-data", signal.SIGTERM),
    "baseline": ("epoch 1/3", signal.SIGINT),
    "variants": ("prune: polynomial", signal.SIGINT),
    "measuring": ("Task run 'build-int8' - Finished", signal.SIGTERM),
    "logging": ("logged run", signal.SIGINT),
    "promotion": ("Task run 'report", signal.SIGINT),
}


def _interrupt(args: list[str], cwd: Path, line: str, signum: int) -> tuple[Command, object]:
    command = Command(args, cwd)
    try:
        command.wait_for(line, timeout=400)
        sent = command.signal(signum, group=signum == signal.SIGINT)
        before = list(command.lines)
        outcome = command.finish(timeout=120, since=sent)
        left = wait_gone(command.mark, timeout=5)
    finally:
        command.kill()
    tail = "\n".join(outcome.lines[-25:])  # Prefect's lines carry their time
    assert outcome.status == 130, tail
    assert outcome.last_line == f"mlflow-tflite {args[0]}: interrupted", tail
    assert outcome.seconds < 5, f"{outcome.seconds:.1f} s after the signal:\n{tail}"
    assert left == []
    return command, before


def _check_runs(cwd: Path, promoted_before: bool) -> None:
    client = store_client(cwd)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert not [r for r in runs if r.info.status == "RUNNING"]
    parents = [r for r in runs if r.data.tags.get(ROLE_TAG) == FLOW_ROLE]
    for parent in parents:
        assert parent.info.status == "FAILED"
        assert parent.data.tags[ERROR_TAG] == "interrupted"
    models = client.search_registered_models(f"name = '{MODEL}'")
    if not promoted_before:
        assert all(not model.aliases for model in models)


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_signal_at_any_stage_of_run_ends_it_in_seconds_and_leaves_nothing(
    tmp_path: Path, stage: str
):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS, sort_keys=False))
    line, signum = STAGES[stage]
    _, before = _interrupt(["run", "--params", "params.yaml"], tmp_path, line, signum)
    _check_runs(tmp_path, promoted_before=any("promotion: " in b for b in before))


@pytest.mark.parametrize("runner", ["processes", "dask"])
def test_ctrl_c_while_variants_build_on_worker_processes_ends_run_in_seconds(
    tmp_path: Path, runner: str
):
    # The workers are processes of their own (Prefect's process pool, a Dask LocalCluster):
    # the signal reaches them through the process group, and none may be left.
    params = {**PARAMS, "runner": {"type": runner, "workers": 2}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _interrupt(["run", "--params", "params.yaml"], tmp_path, "prune: polynomial",
               signal.SIGINT)
    _check_runs(tmp_path, promoted_before=False)


def test_ctrl_c_while_search_trials_run_ends_it_in_seconds(tmp_path: Path):
    search = {"budget": {"trials": 6}, "parallel": 2,
              "space": {"prune": {"use": True, "final_sparsity": {"low": 0.5, "high": 0.8},
                                  "epochs": 2},
                        "convert": {"quantization": {"choices": ["int8", "dynamic"]}}}}
    params = {**PARAMS, "train": {**PARAMS["train"], "epochs": 1}, "search": search}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _interrupt(["search", "--params", "params.yaml"], tmp_path, "prune: polynomial",
               signal.SIGINT)
    _check_runs(tmp_path, promoted_before=False)


def test_sigterm_stops_schedule_and_its_prefect_server(tmp_path: Path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS, sort_keys=False))
    _interrupt(["schedule", "--cron", "0 3 * * *", "--params", "params.yaml"], tmp_path,
               "serving deployment", signal.SIGTERM)
