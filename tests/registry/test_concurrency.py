"""Two promotions of one model started at the same moment from two processes."""

from __future__ import annotations

import multiprocessing
import os

import pytest
from mlflow import MlflowClient

from mlflow_tflite.config.promote import PromoteConfig
from mlflow_tflite.registry import promote_flow_run
from mlflow_tflite.registry.lock import lock_name
from tests.registry.flowruns import metrics

POLICY = PromoteConfig.model_validate({"objective": ["size_bytes"]})
ROUNDS = 3


def _promote_rounds(uri: str, jobs: list[tuple[str, str]], barrier, results) -> None:
    """Child process: for each (parent run, model), wait for the other process, promote."""
    import mlflow

    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    for parent, model_name in jobs:
        barrier.wait(timeout=120)
        try:
            decision = promote_flow_run(parent, model_name, POLICY)
            results.put((parent, decision.to_dict()))
        except Exception as error:  # reported to the test, which fails with it
            results.put((parent, {"error": repr(error)}))


@pytest.mark.slow
def test_concurrent_promotions_end_with_the_champion_a_sequential_order_gives(
    server_tracking_uri: str, flow, model_name: str
) -> None:
    client = MlflowClient()
    rounds = []
    for index in range(ROUNDS):
        name = f"{model_name}-{index}"
        # The first round races for a model that has no champion (nor exists) yet.
        old = None
        if index > 0:
            old = promote_flow_run(flow({"old": metrics(size_bytes=10_000)}), name, POLICY)
        better = flow({"better": metrics(size_bytes=3_000)})
        worse = flow({"worse": metrics(size_bytes=5_000)})
        rounds.append((name, better, worse, old.target().version if old else None))
    # Alternate which process gets the better run, so neither start order is favoured.
    first = [(b, n) if i % 2 == 0 else (w, n) for i, (n, b, w, _) in enumerate(rounds)]
    second = [(w, n) if i % 2 == 0 else (b, n) for i, (n, b, w, _) in enumerate(rounds)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    processes = [
        context.Process(target=_promote_rounds, args=(server_tracking_uri, jobs, barrier, results))
        for jobs in (first, second)
    ]
    for process in processes:
        process.start()
    decisions = dict(results.get(timeout=240) for _ in range(2 * ROUNDS))
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0

    for name, better, worse, initial in rounds:
        won, lost = decisions[better], decisions[worse]
        assert "error" not in won and "error" not in lost, (won, lost)
        won, lost = won["targets"][0], lost["targets"][0]
        champion = client.get_model_version_by_alias(name, "champion")
        # Whatever the interleaving, the better run ends as champion ...
        assert (won["outcome"], str(champion.version)) == ("promoted", won["version"])
        previous = champion.tags["mlflow_tflite.previous.champion"]
        if lost["outcome"] == "promoted":
            # ... worse went first and better replaced it: better remembers worse.
            assert lost["champion_before"] == initial
            assert won["champion_before"] == previous == lost["version"]
        else:
            # ... or better went first and worse, compared against it, became challenger.
            assert lost["outcome"] == "challenger"
            assert lost["champion_before"] == won["version"]
            assert won["champion_before"] == initial
            assert previous == (initial or "")
            challenger = client.get_model_version_by_alias(name, "challenger")
            assert str(challenger.version) == lost["version"]
        registered = [m.name for m in client.search_registered_models()]
        assert lock_name(name) not in registered
